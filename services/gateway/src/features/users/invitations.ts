import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { inTransaction, type Pool } from '@ttm/service-kit';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';

const table = `${GATEWAY_SCHEMA}.invitations`;

export interface Invitation {
  id: string;
  tenantId: string;
  /** The invited user (core."user".id), created in the workspace without a password. */
  userId: string;
  email: string;
}

export interface IssuedInvitation {
  /** Shown once, to the Admin who invited (and to no log): the invited user sets a password with it. */
  token: string;
  expiresAt: Date;
}

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

/**
 * Invitation tokens: 256 random bits, stored as their sha256, single use, expiring. Issuing one
 * for a user revokes the user's earlier ones. An accepted invitation is also how the login learns
 * that an email belongs to an organization besides its admin (`memberTenants`).
 */
export class Invitations {
  constructor(
    private readonly pool: Pool,
    private readonly ttlMs: number,
  ) {}

  async issue(input: {
    tenantId: string;
    userId: string;
    email: string;
    createdBy: string;
  }): Promise<IssuedInvitation> {
    const token = randomBytes(32).toString('base64url');
    return inTransaction(this.pool, async (client) => {
      await client.query(
        `UPDATE ${table} SET revoked_at = now()
          WHERE tenant_id = $1 AND user_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL`,
        [input.tenantId, input.userId],
      );
      const { rows } = await client.query<{ expires_at: Date }>(
        `INSERT INTO ${table} (id, tenant_id, user_id, email, token_hash, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         RETURNING expires_at`,
        [
          randomUUID(),
          input.tenantId,
          input.userId,
          input.email.toLowerCase(),
          digest(token),
          input.createdBy,
          this.ttlMs / 1_000,
        ],
      );
      return { token, expiresAt: rows[0]!.expires_at };
    });
  }

  /**
   * Use the token once: `setPassword` runs while the invitation is locked and answers whether the
   * user is still there to receive it. Undefined when the token is unknown, used, revoked or
   * expired, or the user has left: nothing changes then.
   */
  async accept(
    token: string,
    setPassword: (invitation: Invitation) => Promise<boolean>,
  ): Promise<Invitation | undefined> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<Invitation>(
        `SELECT id, tenant_id AS "tenantId", user_id AS "userId", email
           FROM ${table}
          WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
          FOR UPDATE`,
        [digest(token)],
      );
      const invitation = rows[0];
      if (!invitation) return undefined;
      if (!(await setPassword(invitation))) return undefined;
      await client.query(`UPDATE ${table} SET accepted_at = now() WHERE id = $1`, [invitation.id]);
      return invitation;
    });
  }

  /** Tenants where a user with this email has accepted an invitation (login candidates). */
  async memberTenants(email: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ tenant_id: string }>(
      `SELECT DISTINCT tenant_id FROM ${table}
        WHERE lower(email) = lower($1) AND accepted_at IS NOT NULL AND revoked_at IS NULL`,
      [email],
    );
    return rows.map((r) => r.tenant_id);
  }

  /** The user left the organization: its invitations, pending or accepted, stop counting. */
  async revokeForUser(tenantId: string, userId: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${table} SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
      [tenantId, userId],
    );
  }
}
