import { EventEmitter } from 'node:events';
import {
  inTransaction,
  isSealedSecret,
  type KeyEncryptionKeys,
  type Logger,
  openSecret,
  type Pool,
  sealSecret,
} from '@ttm/service-kit';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';

export const SIGNING_ALG = 'ES256';
const table = `${GATEWAY_SCHEMA}.signing_keys`;
const active = 'activated_at IS NOT NULL AND retired_at IS NULL';

/** A key as published in the JWKS: public parts only, with `kid`, `alg` and `use`. */
export type PublishedKey = JWK & { kid: string; alg: string; use: 'sig' };

/** Rotations made by this process, so its own key rings reload at once instead of at the next tick. */
const localRotations = new EventEmitter<{ rotated: [Pool] }>();
localRotations.setMaxListeners(0);

/**
 * A new key pair. The private JWK is stored sealed (`sealSecret`: a data key of its own, wrapped
 * by the KEK, the kid as additional data so a sealed key cannot be moved to another row).
 */
async function newSigningKey(
  kek: KeyEncryptionKeys,
): Promise<{ kid: string; storedPrivate: string; publicJwk: PublishedKey }> {
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicParts = await exportJWK(publicKey);
  // RFC 7638 thumbprint: the same key always gets the same kid, on every instance.
  const kid = await calculateJwkThumbprint(publicParts, 'sha256');
  const publicJwk: PublishedKey = { ...publicParts, kid, alg: SIGNING_ALG, use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
  return { kid, storedPrivate: JSON.stringify(await sealPrivateJwk(kek, kid, privateJwk)), publicJwk };
}

function sealPrivateJwk(kek: KeyEncryptionKeys, kid: string, jwk: JWK) {
  return sealSecret(kek, Buffer.from(JSON.stringify(jwk)), `signing-key:${kid}`);
}

/** The private JWK of a stored key: opened if sealed, as it is if stored before keys were sealed. */
async function openPrivateJwk(kek: KeyEncryptionKeys, kid: string, stored: unknown): Promise<JWK> {
  if (!isSealedSecret(stored)) return stored as JWK;
  return JSON.parse((await openSecret(kek, stored, `signing-key:${kid}`)).toString('utf8')) as JWK;
}

/**
 * Seal the private keys stored in plain text (by a version before keys were sealed), and
 * re-seal those wrapped by a previous KEK under the current one. Returns how many changed.
 */
export async function sealStoredSigningKeys(pool: Pool, kek: KeyEncryptionKeys): Promise<number> {
  const { rows } = await pool.query<{ kid: string; private_jwk: unknown }>(`SELECT kid, private_jwk FROM ${table}`);
  let changed = 0;
  for (const row of rows) {
    if (isSealedSecret(row.private_jwk) && row.private_jwk.key.kek === kek.currentId) continue;
    const jwk = await openPrivateJwk(kek, row.kid, row.private_jwk);
    const sealed = await sealPrivateJwk(kek, row.kid, jwk);
    await pool.query(`UPDATE ${table} SET private_jwk = $2 WHERE kid = $1 AND private_jwk = $3`, [
      row.kid,
      JSON.stringify(sealed),
      JSON.stringify(row.private_jwk),
    ]);
    changed++;
  }
  return changed;
}

/**
 * Make sure one key signs. Two gateways starting together may both create one: the unique
 * partial index lets one insert win, and both then read the winner.
 */
export async function ensureActiveSigningKey(pool: Pool, kek: KeyEncryptionKeys): Promise<string> {
  const current = await pool.query<{ kid: string }>(`SELECT kid FROM ${table} WHERE ${active}`);
  if (current.rows[0]) return current.rows[0].kid;
  const key = await newSigningKey(kek);
  await pool.query(
    `INSERT INTO ${table} (kid, alg, private_jwk, public_jwk, activated_at)
     VALUES ($1, $2, $3, $4, now()) ON CONFLICT DO NOTHING`,
    [key.kid, SIGNING_ALG, key.storedPrivate, JSON.stringify(key.publicJwk)],
  );
  const winner = await pool.query<{ kid: string }>(`SELECT kid FROM ${table} WHERE ${active}`);
  if (!winner.rows[0]) throw new Error('no active signing key after creating one (was it retired concurrently?)');
  return winner.rows[0].kid;
}

export interface RotationResult {
  /** The key that signs from now on. */
  kid: string;
  /** The key that signed until now: still published and accepted until its tokens have expired. */
  retired: string[];
}

/**
 * Activate a new signing key and retire the current one. Nobody is logged out: a retired key
 * stays in the JWKS and keeps verifying until every token it signed has expired (the
 * access-token TTL after its retirement). Other gateways pick the new key up at their next
 * reload, or at once when they meet a token signed with it.
 *
 * With `olderThanMs`, only if the signing key was activated longer ago than that (the
 * schedule: every gateway asks, one rotates); undefined when it was not due.
 */
export async function rotateSigningKey(pool: Pool, kek: KeyEncryptionKeys): Promise<RotationResult>;
export async function rotateSigningKey(
  pool: Pool,
  kek: KeyEncryptionKeys,
  olderThanMs: number,
): Promise<RotationResult | undefined>;
export async function rotateSigningKey(
  pool: Pool,
  kek: KeyEncryptionKeys,
  olderThanMs?: number,
): Promise<RotationResult | undefined> {
  const key = await newSigningKey(kek);
  const result = await inTransaction(pool, async (client) => {
    // Two rotations at once would both retire the same key and then both insert an active one.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('ttm-gateway-signing-keys'))`);
    if (olderThanMs !== undefined) {
      const fresh = await client.query(
        `SELECT 1 FROM ${table} WHERE ${active} AND activated_at > now() - make_interval(secs => $1)`,
        [olderThanMs / 1_000],
      );
      if (fresh.rowCount) return undefined;
    }
    const retired = await client.query<{ kid: string }>(
      `UPDATE ${table} SET retired_at = now() WHERE ${active} RETURNING kid`,
    );
    await client.query(
      `INSERT INTO ${table} (kid, alg, private_jwk, public_jwk, activated_at) VALUES ($1, $2, $3, $4, now())`,
      [key.kid, SIGNING_ALG, key.storedPrivate, JSON.stringify(key.publicJwk)],
    );
    return { kid: key.kid, retired: retired.rows.map((r) => r.kid) };
  });
  if (result) localRotations.emit('rotated', pool);
  return result;
}

export interface SigningKeyRingOptions {
  pool: Pool;
  logger: Logger;
  /** Opens the stored private keys (and seals new ones). */
  kek: KeyEncryptionKeys;
  /** `ACCESS_TOKEN_TTL`: how long a retired key must keep verifying. */
  accessTokenTtlMs: number;
  /** How often the ring rereads the table to see other instances' rotations. Default 30 s. */
  reloadIntervalMs?: number;
}

interface VerifyingKey {
  key: CryptoKey;
  jwk: PublishedKey;
  retiredAt: number | undefined;
}

interface KeyRow {
  kid: string;
  public_jwk: PublishedKey;
  /** A sealed secret, or a plain JWK stored before keys were sealed. */
  private_jwk: unknown;
  retired_at: Date | null;
}

/**
 * The signing keys as this gateway uses them: the one private key that signs, and every
 * public key still accepted. Loaded from `gateway.signing_keys`, reloaded periodically, and
 * at once (at most once a second) when a token names a key the ring does not know yet.
 */
export class SigningKeyRing {
  private verifying = new Map<string, VerifyingKey>();
  private signing: { kid: string; key: CryptoKey } | undefined;
  private reloading: Promise<void> | undefined;
  private lastReloadAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly onRotation = (pool: Pool) => {
    if (pool === this.options.pool) this.reloadInBackground();
  };

  private constructor(private readonly options: SigningKeyRingOptions) {}

  /** Ensure a signing key exists, load the ring and keep it current until `close()`. */
  static async open(options: SigningKeyRingOptions): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(options);
    const sealed = await sealStoredSigningKeys(options.pool, options.kek);
    if (sealed > 0) options.logger.info({ keys: sealed }, 'sealed stored signing keys under the current KEK');
    await ensureActiveSigningKey(options.pool, options.kek);
    await ring.reload();
    ring.timer = setInterval(() => ring.reloadInBackground(), ring.reloadIntervalMs);
    ring.timer.unref();
    localRotations.on('rotated', ring.onRotation);
    return ring;
  }

  /** How long after its retirement a key still verifies: its last tokens' lifetime, plus slack. */
  get retiredKeyGraceMs(): number {
    // Another instance may sign with the old key until its next reload; allow some clock skew too.
    return this.options.accessTokenTtlMs + this.reloadIntervalMs + 5_000;
  }

  /** The key that signs new tokens. */
  signingKey(): { kid: string; key: CryptoKey } {
    if (!this.signing) throw new Error('the signing key ring has no active key');
    return this.signing;
  }

  /** Every key still accepted, for `/.well-known/jwks.json`. */
  jwks(): JSONWebKeySet {
    return { keys: [...this.verifying.values()].filter((k) => this.accepts(k)).map((k) => k.jwk) };
  }

  /** The public key of `kid`, if it is still accepted; an unknown kid triggers a (throttled) reload. */
  async verificationKey(kid: string | undefined): Promise<CryptoKey | undefined> {
    if (kid === undefined) return undefined;
    let entry = this.verifying.get(kid);
    if (!entry && Date.now() - this.lastReloadAt > 1_000) {
      await this.reload();
      entry = this.verifying.get(kid);
    }
    return entry && this.accepts(entry) ? entry.key : undefined;
  }

  /** Whether `kid` is loaded and still accepted (no reload): for tokens verified before. */
  acceptsKid(kid: string): boolean {
    const entry = this.verifying.get(kid);
    return entry !== undefined && this.accepts(entry);
  }

  /** Reread the table; concurrent calls share one read. */
  reload(): Promise<void> {
    this.reloading ??= this.load().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  close(): void {
    clearInterval(this.timer);
    localRotations.off('rotated', this.onRotation);
  }

  private get reloadIntervalMs(): number {
    return this.options.reloadIntervalMs ?? 30_000;
  }

  private accepts(entry: VerifyingKey): boolean {
    return entry.retiredAt === undefined || Date.now() - entry.retiredAt < this.retiredKeyGraceMs;
  }

  private reloadInBackground(): void {
    this.reload().catch((error: unknown) =>
      this.options.logger.warn({ err: error }, 'reloading signing keys failed; keeping the keys loaded before'),
    );
  }

  private async load(): Promise<void> {
    this.lastReloadAt = Date.now();
    const rows = await this.readKeys();
    let activeRow = rows.find((r) => r.retired_at === null && r.private_jwk !== null);
    if (!activeRow) {
      // Someone retired the active key without activating another: never stop signing.
      await ensureActiveSigningKey(this.options.pool, this.options.kek);
      const reread = await this.readKeys();
      rows.splice(0, rows.length, ...reread);
      activeRow = rows.find((r) => r.retired_at === null && r.private_jwk !== null);
    }
    const verifying = new Map<string, VerifyingKey>();
    for (const row of rows) {
      const known = this.verifying.get(row.kid);
      verifying.set(row.kid, {
        key: known?.key ?? ((await importJWK(row.public_jwk, SIGNING_ALG)) as CryptoKey),
        jwk: row.public_jwk,
        retiredAt: row.retired_at ? row.retired_at.getTime() : undefined,
      });
    }
    this.verifying = verifying;
    if (activeRow?.private_jwk && activeRow.kid !== this.signing?.kid) {
      this.signing = {
        kid: activeRow.kid,
        key: (await importJWK(
          await openPrivateJwk(this.options.kek, activeRow.kid, activeRow.private_jwk),
          SIGNING_ALG,
        )) as CryptoKey,
      };
    }
  }

  private async readKeys(): Promise<KeyRow[]> {
    const { rows } = await this.options.pool.query<KeyRow>(
      `SELECT kid, public_jwk, CASE WHEN retired_at IS NULL THEN private_jwk END AS private_jwk, retired_at
         FROM ${table}
        WHERE activated_at IS NOT NULL
          AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $1))
        ORDER BY activated_at DESC`,
      [this.retiredKeyGraceMs / 1_000],
    );
    return rows;
  }
}
