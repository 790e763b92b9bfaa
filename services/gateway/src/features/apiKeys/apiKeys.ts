import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ApiKeyRevokedNotice, CoreSubjects } from '@ttm/contracts';
import type { Logger, NatsConnection, Pool } from '@ttm/service-kit';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';
import { DEFAULT_API_KEY_SCOPES } from '../users/roles.js';

/**
 * Core NATS subject (no stream keeps it) on which a gateway announces a revoked key id, so every
 * instance drops it from its cache at once. Gateway-internal: only gateways publish and listen.
 */
export const API_KEY_REVOKED_SUBJECT = CoreSubjects.apiKeyRevoked;

/** The notice body (`ApiKeyRevokedNotice` in the contracts). */
const revokedNotice = (keyId: string, tenantId?: string) => JSON.stringify(tenantId ? { keyId, tenantId } : { keyId });

export const API_KEY_PREFIX = 'ttm_';
/** `ttm_<key id: 32 hex>_<secret: 43 base64url characters (256 bits)>`. */
const KEY_FORMAT = /^ttm_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  name: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** What the key may do (features/users/roles.ts); its creator's role still applies. */
  scopes: string[];
}

/** What a verified key stands for. */
export interface VerifiedApiKey {
  keyId: string;
  tenantId: string;
  /** The user who created the key; requests with it act as them. */
  userId: string;
  scopes: string[];
}

interface StoredKey extends ApiKeyRecord {
  secretHash: Buffer;
}

interface CacheEntry {
  /** Undefined: no such key (cached too, so a flood of unknown ids does not reach the database). */
  key: StoredKey | undefined;
  loadedAt: number;
}

const MAX_CACHED = 100_000;
/** Most key ids read by one statement. */
const MAX_BATCH = 500;

interface PendingLoad {
  keyId: string;
  /** 1 once read again because a revocation raced the first read. */
  attempt: number;
  resolve: (key: StoredKey | undefined) => void;
  reject: (error: unknown) => void;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

function uuidOfHex(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Split a presented key into its id (as a uuid) and secret; undefined when it is not shaped like one. */
export function parseApiKey(presented: string): { id: string; secret: string } | undefined {
  const match = KEY_FORMAT.exec(presented);
  return match ? { id: uuidOfHex(match[1]!), secret: match[2]! } : undefined;
}

/**
 * Tenant API keys, stored in the gateway's schema as sha256 of a 256-bit secret (a slow hash
 * adds nothing to a secret with that much entropy, and would cost every request).
 *
 * Verification is served from memory: a key row is cached for `cacheTtlMs` after it is read,
 * and the presented secret is hashed and compared in constant time on every request. A
 * revocation deletes the row's cache entry on the revoking instance and is announced on
 * `API_KEY_REVOKED_SUBJECT`, which every gateway instance listens to, so it takes effect
 * everywhere within milliseconds; the TTL bounds it if that message is lost.
 */
export class ApiKeys {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly loading = new Map<string, Promise<StoredKey | undefined>>();
  /** Key reads asked for and not sent yet (`loadBatch` sends them together). */
  private readonly batch: PendingLoad[] = [];
  /** When each key id was last announced revoked, so a read racing the revocation is not cached. */
  private readonly invalidatedAt = new Map<string, number>();
  private readonly table = `${GATEWAY_SCHEMA}.api_keys`;

  constructor(
    private readonly options: {
      pool: Pool;
      nc: NatsConnection;
      logger: Logger;
      cacheTtlMs: number;
      now?: () => number;
    },
  ) {
    options.nc.subscribe(API_KEY_REVOKED_SUBJECT, {
      callback: (error, message) => {
        if (error) {
          options.logger.warn({ err: error }, 'API key revocation subscription failed');
          return;
        }
        try {
          const { keyId } = ApiKeyRevokedNotice.schema.parse(message.json());
          this.invalidate(keyId);
        } catch (cause) {
          // Not ours to act on; the cache TTL still bounds how long a revoked key could live.
          options.logger.warn(
            { err: cause, subject: message.subject },
            'ignored a malformed API key revocation notice',
          );
        }
      },
    });
    // Revocations announced while this instance was disconnected are lost: forget every cached key.
    void (async () => {
      for await (const status of options.nc.status()) {
        if (status.type === 'reconnect') this.cache.clear();
      }
    })().catch((error: unknown) => options.logger.warn({ err: error }, 'NATS status stream of API keys ended'));
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Make a key for a tenant; the returned `secret` is the only copy of the full key. */
  async create(input: {
    tenantId: string;
    name: string;
    createdBy: string;
    expiresAt: Date | null;
    /** Default: DEFAULT_API_KEY_SCOPES (read and write records). */
    scopes?: readonly string[];
  }): Promise<{ record: ApiKeyRecord; key: string }> {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const key = `${API_KEY_PREFIX}${id.replaceAll('-', '')}_${secret}`;
    const { rows } = await this.options.pool.query<ApiKeyRecord>(
      `INSERT INTO ${this.table} (id, tenant_id, name, secret_hash, created_by, expires_at, scopes)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       RETURNING id, tenant_id AS "tenantId", name, created_by AS "createdBy", created_at AS "createdAt",
                 expires_at AS "expiresAt", revoked_at AS "revokedAt", scopes`,
      [
        id,
        input.tenantId,
        input.name,
        sha256(secret),
        input.createdBy,
        input.expiresAt,
        [...(input.scopes ?? DEFAULT_API_KEY_SCOPES)],
      ],
    );
    return { record: rows[0]!, key };
  }

  /** The tenant's keys, newest first; never their secrets. */
  async list(tenantId: string): Promise<ApiKeyRecord[]> {
    const { rows } = await this.options.pool.query<ApiKeyRecord>(
      `SELECT id, tenant_id AS "tenantId", name, created_by AS "createdBy", created_at AS "createdAt",
              expires_at AS "expiresAt", revoked_at AS "revokedAt", scopes
         FROM ${this.table} WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1000`,
      [tenantId],
    );
    return rows;
  }

  /**
   * Revoke one of the tenant's keys. `not-found` for a key of another tenant too. Revoking a
   * revoked key is a success that changes nothing.
   */
  async revoke(tenantId: string, keyId: string): Promise<'revoked' | 'already-revoked' | 'not-found'> {
    const { rows } = await this.options.pool.query<{ was_revoked: boolean }>(
      `UPDATE ${this.table} k SET revoked_at = coalesce(k.revoked_at, now())
         FROM ${this.table} old
        WHERE k.id = $1 AND k.tenant_id = $2 AND old.id = k.id
        RETURNING old.revoked_at IS NOT NULL AS was_revoked`,
      [keyId, tenantId],
    );
    if (!rows[0]) return 'not-found';
    this.invalidate(keyId);
    // Every instance (this one too) drops the key from its cache; flush so it leaves before we answer.
    this.options.nc.publish(API_KEY_REVOKED_SUBJECT, revokedNotice(keyId, tenantId));
    await this.options.nc.flush();
    return rows[0].was_revoked ? 'already-revoked' : 'revoked';
  }

  /** Revoke every live key a user created (the user is leaving the organization); their ids. */
  async revokeCreatedBy(tenantId: string, userId: string): Promise<string[]> {
    const { rows } = await this.options.pool.query<{ id: string }>(
      `UPDATE ${this.table} SET revoked_at = now()
        WHERE tenant_id = $1 AND created_by = $2 AND revoked_at IS NULL RETURNING id`,
      [tenantId, userId],
    );
    for (const { id } of rows) {
      this.invalidate(id);
      this.options.nc.publish(API_KEY_REVOKED_SUBJECT, revokedNotice(id, tenantId));
    }
    if (rows.length > 0) await this.options.nc.flush();
    return rows.map((r) => r.id);
  }

  /** The key's tenant and user when the presented key is known, unrevoked, unexpired and its secret matches. */
  async verify(presented: string): Promise<VerifiedApiKey | undefined> {
    const parsed = parseApiKey(presented);
    if (!parsed) return undefined;
    const key = await this.lookup(parsed.id);
    if (!key) return undefined;
    const hash = sha256(parsed.secret);
    if (hash.length !== key.secretHash.length || !timingSafeEqual(hash, key.secretHash)) return undefined;
    if (key.revokedAt !== null) return undefined;
    if (key.expiresAt !== null && key.expiresAt.getTime() <= this.now()) return undefined;
    return { keyId: key.id, tenantId: key.tenantId, userId: key.createdBy, scopes: key.scopes };
  }

  private invalidate(keyId: string): void {
    this.cache.delete(keyId);
    this.invalidatedAt.set(keyId, this.now());
    if (this.invalidatedAt.size > MAX_CACHED) {
      const oldest = this.invalidatedAt.keys().next().value;
      if (oldest !== undefined) this.invalidatedAt.delete(oldest);
    }
  }

  private async lookup(keyId: string): Promise<StoredKey | undefined> {
    const cached = this.cache.get(keyId);
    if (cached && this.now() - cached.loadedAt < this.options.cacheTtlMs) return cached.key;
    let pending = this.loading.get(keyId);
    if (!pending) {
      pending = this.load(keyId).finally(() => this.loading.delete(keyId));
      this.loading.set(keyId, pending);
    }
    return pending;
  }

  /**
   * Read a key row. The reads asked for in one event-loop turn go to the database together, as
   * one `id = ANY($1)` statement: with thousands of tenants' keys expiring from the cache
   * (`cacheTtlMs`) while they call, that is one control-plane query per turn, not one per key.
   */
  private load(keyId: string): Promise<StoredKey | undefined> {
    return new Promise((resolve, reject) => {
      this.batch.push({ keyId, attempt: 0, resolve, reject });
      if (this.batch.length === 1) setImmediate(() => void this.loadBatch());
    });
  }

  private async loadBatch(): Promise<void> {
    const loads = this.batch.splice(0, MAX_BATCH);
    if (this.batch.length > 0) setImmediate(() => void this.loadBatch());
    const startedAt = this.now();
    let rows: StoredKey[];
    try {
      ({ rows } = await this.options.pool.query<StoredKey>(
        `SELECT id, tenant_id AS "tenantId", name, secret_hash AS "secretHash", created_by AS "createdBy",
                created_at AS "createdAt", expires_at AS "expiresAt", revoked_at AS "revokedAt", scopes
           FROM ${this.table} WHERE id = ANY($1::uuid[])`,
        [[...new Set(loads.map((l) => l.keyId))]],
      ));
    } catch (error) {
      for (const load of loads) load.reject(error);
      return;
    }
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const load of loads) {
      // Revoked while we were reading: the row read may predate it, so read again (once).
      if ((this.invalidatedAt.get(load.keyId) ?? -1) >= startedAt && load.attempt === 0) {
        this.batch.push({ ...load, attempt: 1 });
        if (this.batch.length === 1) setImmediate(() => void this.loadBatch());
        continue;
      }
      const key = byId.get(load.keyId);
      this.cache.delete(load.keyId);
      this.cache.set(load.keyId, { key, loadedAt: startedAt });
      if (this.cache.size > MAX_CACHED) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      load.resolve(key);
    }
  }
}
