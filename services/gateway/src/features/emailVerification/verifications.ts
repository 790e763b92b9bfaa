import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from '@ttm/service-kit';
import type pg from 'pg';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';

const table = `${GATEWAY_SCHEMA}.email_verifications`;
const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();
const newToken = () => randomBytes(32).toString('base64url');

export interface PendingVerification {
  tenantId: string;
  email: string;
}

/**
 * The e-mail verification of each registration's admin: 256-bit tokens stored as their sha256,
 * single use, expiring after EMAIL_VERIFICATION_TTL. A new token (registration retried, resend)
 * replaces the earlier one. A tenant without a row is not held back (verification was off when
 * it registered, or it predates verification).
 */
export class EmailVerifications {
  constructor(
    private readonly pool: Pool,
    private readonly ttlMs: number,
  ) {}

  /** In the registration's transaction: the admin is unverified from now on. Answers the token to mail. */
  async begin(client: pg.ClientBase, tenantId: string, email: string): Promise<string> {
    const token = newToken();
    await client.query(
      `INSERT INTO ${table} (tenant_id, email, token_hash, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4))
       ON CONFLICT (tenant_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at
         WHERE ${table}.verified_at IS NULL`,
      [tenantId, email.toLowerCase(), digest(token), this.ttlMs / 1_000],
    );
    return token;
  }

  /** Use a token once: the admin is verified. Undefined when it is unknown, used or expired. */
  async verify(token: string): Promise<PendingVerification | undefined> {
    const { rows } = await this.pool.query<PendingVerification>(
      `UPDATE ${table} SET verified_at = now(), token_hash = NULL
        WHERE token_hash = $1 AND verified_at IS NULL AND expires_at > now()
        RETURNING tenant_id AS "tenantId", email`,
      [digest(token)],
    );
    return rows[0];
  }

  /** True when this tenant's admin with this email has not verified it yet. */
  async isUnverified(tenantId: string, email: string): Promise<boolean> {
    const { rows } = await this.pool.query(
      `SELECT 1 FROM ${table} WHERE tenant_id = $1 AND lower(email) = lower($2) AND verified_at IS NULL`,
      [tenantId, email],
    );
    return rows.length > 0;
  }

  /**
   * In the caller's transaction: a new token for each still-unverified registration of this email
   * (at most `limit`, narrowed to `tenantIds` when given); earlier tokens stop working.
   */
  async reissue(
    client: pg.ClientBase,
    email: string,
    tenantIds: string[] | undefined,
    limit: number,
  ): Promise<{ tenantId: string; token: string }[]> {
    const { rows } = await client.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM ${table}
        WHERE lower(email) = lower($1) AND verified_at IS NULL AND ($2::uuid[] IS NULL OR tenant_id = ANY($2))
        ORDER BY created_at LIMIT $3 FOR UPDATE`,
      [email, tenantIds ?? null, limit],
    );
    const issued: { tenantId: string; token: string }[] = [];
    for (const { tenant_id: tenantId } of rows) {
      const token = newToken();
      await client.query(
        `UPDATE ${table} SET token_hash = $2, expires_at = now() + make_interval(secs => $3) WHERE tenant_id = $1`,
        [tenantId, digest(token), this.ttlMs / 1_000],
      );
      issued.push({ tenantId, token });
    }
    return issued;
  }
}
