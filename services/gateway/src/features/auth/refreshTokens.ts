import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { inTransaction, type Pool, type PoolClient } from '@ttm/service-kit';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';

const table = `${GATEWAY_SCHEMA}.refresh_tokens`;

export interface RefreshTokenSubject {
  userId: string;
  tenantId: string;
  /** The email the session logged in with, for the audit trail. */
  email: string;
}

export interface RefreshTokenRecord extends RefreshTokenSubject {
  id: string;
  familyId: string;
}

export type RefreshOutcome =
  /** The token was good: it is now used, and `token` is its successor in the same family. */
  | { kind: 'rotated'; token: string; record: RefreshTokenRecord }
  /** The token was already used: someone else holds a copy, so its whole family is now revoked. */
  | { kind: 'reused'; record: RefreshTokenRecord }
  /** Unknown, expired or revoked. */
  | { kind: 'invalid' };

interface Row {
  id: string;
  family_id: string;
  user_id: string;
  tenant_id: string;
  email: string;
  expired: boolean;
  used_at: Date | null;
  revoked_at: Date | null;
}

/**
 * Refresh tokens: 256 random bits, given to the client once and stored only as their sha256.
 * Each login starts a family; each refresh uses its token and issues the next of the family.
 */
export class RefreshTokens {
  constructor(
    private readonly pool: Pool,
    private readonly ttlMs: number,
    /** `REFRESH_TOKEN_MAX_LIFETIME`: a session (a family) ends this long after its login, however often refreshed. */
    private readonly maxLifetimeMs: number = Number.POSITIVE_INFINITY,
  ) {}

  /** A new token: of a new family (a login), or of `familyId` (a refresh). */
  async issue(subject: RefreshTokenSubject, familyId: string = randomUUID(), client?: PoolClient): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await (client ?? this.pool).query(
      `INSERT INTO ${table} (id, token_hash, family_id, user_id, tenant_id, email, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
      [randomUUID(), digest(token), familyId, subject.userId, subject.tenantId, subject.email, this.ttlMs / 1_000],
    );
    return token;
  }

  /**
   * Use `token` and issue its successor. `admit` runs on a valid token before it is used and
   * may throw (a suspended tenant): then nothing changes and its error propagates.
   */
  async rotate(token: string, admit: (record: RefreshTokenRecord) => void | Promise<void>): Promise<RefreshOutcome> {
    return inTransaction(this.pool, async (client) => {
      const row = await this.find(client, token, { forUpdate: true });
      if (!row || row.revoked_at) return { kind: 'invalid' };
      const record = recordOf(row);
      if (row.used_at) {
        await this.revokeFamily(client, row.family_id);
        return { kind: 'reused', record };
      }
      if (row.expired) return { kind: 'invalid' };
      if (Number.isFinite(this.maxLifetimeMs)) {
        const { rows } = await client.query<{ over: boolean }>(
          `SELECT min(created_at) + make_interval(secs => $2) <= now() AS over FROM ${table} WHERE family_id = $1`,
          [row.family_id, this.maxLifetimeMs / 1_000],
        );
        if (rows[0]?.over) return { kind: 'invalid' };
      }
      await admit(record);
      await client.query(`UPDATE ${table} SET used_at = now() WHERE id = $1`, [row.id]);
      const next = await this.issue(record, row.family_id, client);
      return { kind: 'rotated', token: next, record };
    });
  }

  /** Log out: revoke every token of `token`'s family. Answers what was revoked, if the token was known. */
  async revokeFamilyOf(token: string): Promise<RefreshTokenRecord | undefined> {
    return inTransaction(this.pool, async (client) => {
      const row = await this.find(client, token, { forUpdate: false });
      if (!row) return undefined;
      await this.revokeFamily(client, row.family_id);
      return recordOf(row);
    });
  }

  /** The user left the organization: every session of theirs ends. Answers how many tokens were revoked. */
  async revokeUser(tenantId: string, userId: string): Promise<number> {
    const result = await this.pool.query(
      `UPDATE ${table} SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`,
      [tenantId, userId],
    );
    return result.rowCount ?? 0;
  }

  /** Delete tokens expired for over a day (kept that long so a late reuse is still recognised). */
  async purgeExpired(): Promise<number> {
    const result = await this.pool.query(`DELETE FROM ${table} WHERE expires_at < now() - interval '1 day'`);
    return result.rowCount ?? 0;
  }

  private async find(client: PoolClient, token: string, options: { forUpdate: boolean }): Promise<Row | undefined> {
    const { rows } = await client.query<Row>(
      `SELECT id, family_id, user_id, tenant_id, email, expires_at <= now() AS expired, used_at, revoked_at
         FROM ${table} WHERE token_hash = $1${options.forUpdate ? ' FOR UPDATE' : ''}`,
      [digest(token)],
    );
    return rows[0];
  }

  private async revokeFamily(client: PoolClient, familyId: string): Promise<void> {
    await client.query(`UPDATE ${table} SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, [
      familyId,
    ]);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function recordOf(row: Row): RefreshTokenRecord {
  return { id: row.id, familyId: row.family_id, userId: row.user_id, tenantId: row.tenant_id, email: row.email };
}
