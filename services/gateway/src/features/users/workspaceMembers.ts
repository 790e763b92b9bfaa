import { randomUUID } from 'node:crypto';
import { inTransaction, qualified, type Workspace } from '../dataPlane/workspace.js';

/**
 * The users of one Twenty workspace: `core."user"` rows linked by a live `core."userWorkspace"`,
 * each with a role (`core."roleTarget"` → `core.role`) and a `workspaceMember` in the workspace
 * schema. "Live" is exactly what metering counts for the `users` meter: `userWorkspace` rows of
 * the workspace whose `deletedAt` is null, so the API and the usage samples agree.
 */
export interface MemberRow {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  role: string | null;
  workspaceMemberId: string | null;
  createdAt: Date;
}

export type MemberRole = 'Admin' | 'Member';

export interface Invitation {
  email: string;
  firstName: string;
  lastName: string;
  role: MemberRole;
}

function memberSelect(workspace: Workspace, where: string): string {
  return `SELECT u.id, u.email, u."firstName", u."lastName", uw."createdAt",
            (SELECT r.label FROM core."roleTarget" rt JOIN core.role r ON r.id = rt."roleId"
              WHERE rt."userWorkspaceId" = uw.id ORDER BY r."canUpdateAllSettings" DESC, r.label LIMIT 1) AS role,
            wm.id AS "workspaceMemberId"
       FROM core."userWorkspace" uw
       JOIN core."user" u ON u.id = uw."userId"
       LEFT JOIN ${qualified(workspace, 'workspaceMember')} wm ON wm."userId" = u.id AND wm."deletedAt" IS NULL
      WHERE uw."workspaceId" = $1 AND uw."deletedAt" IS NULL ${where}`;
}

export async function listMembers(workspace: Workspace): Promise<MemberRow[]> {
  const { rows } = await workspace.pool.query<MemberRow>(
    `${memberSelect(workspace, '')} ORDER BY uw."createdAt", u.id`,
    [workspace.workspaceId],
  );
  return rows;
}

/**
 * Invite a user into the workspace, as Twenty lays a member out: `core."user"` (no password
 * yet: it cannot sign in until it sets one), `core."userWorkspace"`, a `core."roleTarget"` on the
 * chosen role and a `workspaceMember`, all in one transaction. An email already live in this
 * workspace answers `exists` and writes nothing.
 */
export async function inviteMember(
  workspace: Workspace,
  invitation: Invitation,
): Promise<{ kind: 'invited'; member: MemberRow } | { kind: 'exists' }> {
  return inTransaction(workspace, async (client) => {
    // Two invitations of one email at once: the second waits, then sees the first.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      `invite:${workspace.workspaceId}:${invitation.email.toLowerCase()}`,
    ]);
    const existing = await client.query(
      `SELECT 1 FROM core."userWorkspace" uw JOIN core."user" u ON u.id = uw."userId"
        WHERE uw."workspaceId" = $1 AND uw."deletedAt" IS NULL AND lower(u.email) = lower($2)`,
      [workspace.workspaceId, invitation.email],
    );
    if (existing.rowCount) return { kind: 'exists' as const };
    const role = await client.query<{ id: string }>(
      `SELECT id FROM core.role WHERE "workspaceId" = $1 AND label = $2`,
      [workspace.workspaceId, invitation.role],
    );
    if (!role.rows[0]) throw new Error(`workspace ${workspace.workspaceId} has no ${invitation.role} role`);
    const userId = randomUUID();
    const userWorkspaceId = randomUUID();
    await client.query(
      `WITH u AS (
         INSERT INTO core."user" (id, email, "firstName", "lastName", "passwordHash", "defaultWorkspaceId")
         VALUES ($1, $2, $3, $4, '', $5)
       ), uw AS (
         INSERT INTO core."userWorkspace" (id, "userId", "workspaceId") VALUES ($6, $1, $5)
       )
       INSERT INTO core."roleTarget" (id, "workspaceId", "roleId", "userWorkspaceId") VALUES (gen_random_uuid(), $5, $7, $6)`,
      [
        userId,
        invitation.email,
        invitation.firstName,
        invitation.lastName,
        workspace.workspaceId,
        userWorkspaceId,
        role.rows[0].id,
      ],
    );
    await client.query(
      `INSERT INTO ${qualified(workspace, 'workspaceMember')} ("userId", "userEmail", "nameFirstName", "nameLastName")
       VALUES ($1, $2, $3, $4)`,
      [userId, invitation.email, invitation.firstName, invitation.lastName],
    );
    const { rows } = await client.query<MemberRow>(memberSelect(workspace, 'AND u.id = $2'), [
      workspace.workspaceId,
      userId,
    ]);
    return { kind: 'invited' as const, member: rows[0]! };
  });
}

/**
 * Remove a user from the workspace: its `userWorkspace`, `user` and `workspaceMember` are soft
 * deleted (Twenty's `deletedAt`) and its role targets removed, in one transaction. The last
 * Admin cannot be removed (nobody could administer the workspace any more).
 */
export async function removeMember(
  workspace: Workspace,
  userId: string,
): Promise<'removed' | 'not-found' | 'last-admin'> {
  return inTransaction(workspace, async (client) => {
    // One removal at a time per workspace, so two admins removing each other cannot leave none.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`members:${workspace.workspaceId}`]);
    const target = await client.query<{ id: string; admin: boolean }>(
      `SELECT uw.id, EXISTS (
                SELECT 1 FROM core."roleTarget" rt JOIN core.role r ON r.id = rt."roleId"
                 WHERE rt."userWorkspaceId" = uw.id AND r.label = 'Admin') AS admin
         FROM core."userWorkspace" uw
        WHERE uw."workspaceId" = $1 AND uw."userId" = $2 AND uw."deletedAt" IS NULL
        FOR UPDATE`,
      [workspace.workspaceId, userId],
    );
    const row = target.rows[0];
    if (!row) return 'not-found';
    if (row.admin) {
      const admins = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM core."userWorkspace" uw
           JOIN core."roleTarget" rt ON rt."userWorkspaceId" = uw.id
           JOIN core.role r ON r.id = rt."roleId" AND r.label = 'Admin'
          WHERE uw."workspaceId" = $1 AND uw."deletedAt" IS NULL`,
        [workspace.workspaceId],
      );
      if ((admins.rows[0]?.n ?? 0) <= 1) return 'last-admin';
    }
    await client.query(`UPDATE core."userWorkspace" SET "deletedAt" = now(), "updatedAt" = now() WHERE id = $1`, [
      row.id,
    ]);
    await client.query(`DELETE FROM core."roleTarget" WHERE "userWorkspaceId" = $1`, [row.id]);
    await client.query(
      `UPDATE core."user" SET "deletedAt" = now(), "updatedAt" = now() WHERE id = $1 AND "defaultWorkspaceId" = $2`,
      [userId, workspace.workspaceId],
    );
    await client.query(
      `UPDATE ${qualified(workspace, 'workspaceMember')} SET "deletedAt" = now(), "updatedAt" = now()
        WHERE "userId" = $1 AND "deletedAt" IS NULL`,
      [userId],
    );
    return 'removed';
  });
}

/**
 * Give a live member of the workspace its password (argon2id hash), as accepting an invitation
 * does. False when the user is no longer a live member: nothing is written then.
 */
export async function setMemberPassword(workspace: Workspace, userId: string, passwordHash: string): Promise<boolean> {
  const result = await workspace.pool.query(
    `UPDATE core."user" u SET "passwordHash" = $3, "updatedAt" = now()
      WHERE u.id = $2 AND u."deletedAt" IS NULL
        AND EXISTS (SELECT 1 FROM core."userWorkspace" uw
                     WHERE uw."userId" = u.id AND uw."workspaceId" = $1 AND uw."deletedAt" IS NULL)`,
    [workspace.workspaceId, userId, passwordHash],
  );
  return (result.rowCount ?? 0) > 0;
}

/** A live member that has not set a password yet (an invitation may be issued again), with its email. */
export async function memberAwaitingPassword(workspace: Workspace, userId: string): Promise<string | undefined> {
  const { rows } = await workspace.pool.query<{ email: string }>(
    `SELECT u.email FROM core."user" u
       JOIN core."userWorkspace" uw ON uw."userId" = u.id AND uw."workspaceId" = $1 AND uw."deletedAt" IS NULL
      WHERE u.id = $2 AND u."deletedAt" IS NULL AND u."passwordHash" = ''`,
    [workspace.workspaceId, userId],
  );
  return rows[0]?.email;
}
