import type { DataPlanePool } from '../dataPlane/index.js';

/** A Twenty user as the login needs it: who, and the argon2id hash to check the password against. */
export interface WorkspaceUser {
  id: string;
  email: string;
  passwordHash: string;
}

/**
 * The user with this email who belongs to this workspace (Twenty's `core."user"` linked by
 * `core."userWorkspace"`). One email may own users in several workspaces of a cluster, so the
 * workspace is part of the key. Emails compare case-insensitively, as Twenty compares them.
 */
export async function findWorkspaceUser(
  pool: DataPlanePool,
  workspaceId: string,
  email: string,
): Promise<WorkspaceUser | undefined> {
  const { rows } = await pool.query<WorkspaceUser>(
    `SELECT u.id, u.email, u."passwordHash" AS "passwordHash"
       FROM core."user" u
       JOIN core."userWorkspace" uw ON uw."userId" = u.id
      WHERE uw."workspaceId" = $1 AND lower(u.email) = lower($2)
        AND u."deletedAt" IS NULL AND uw."deletedAt" IS NULL
      ORDER BY u."createdAt"
      LIMIT 1`,
    [workspaceId, email],
  );
  return rows[0];
}
