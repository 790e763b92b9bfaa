import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from '@ttm/service-kit';

/** The answer to replay for a repeated request: status, the headers that matter, body. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

type Entry =
  | { state: 'in-flight'; fingerprint: string; owner: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse };

export type IdempotencyClaim =
  /** First time this key is seen: do the work, then `complete` (or `abandon` on failure). */
  | { kind: 'first'; owner: string }
  /** Done before with the same body: answer this again. */
  | { kind: 'replay'; response: StoredResponse }
  /** Used before with another body: 422. */
  | { kind: 'mismatch' }
  /** The first request with this key and body is still running: 409. */
  | { kind: 'in-flight' };

/** Idempotency-Key is an sf-string (`"abc"`) in the IETF draft; bare tokens are accepted too. */
const keyPattern = /^[\x21-\x7e]{1,255}$/;

/**
 * The key from the header: undefined when there is none, null when it is unusable.
 * Pure, so the edge cases are tested without Redis.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined | null {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) return null; // sent twice: ambiguous
  let key = header.trim();
  if (key.length >= 2 && key.startsWith('"') && key.endsWith('"')) key = key.slice(1, -1).replace(/\\(["\\])/g, '$1');
  return keyPattern.test(key) ? key : null;
}

/** JSON with object keys sorted at every level: equal values give equal text, whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** sha256 of the canonical JSON of a request body: what "the same request" means. */
export function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/**
 * A uuid (version 8, RFC 9562 "custom") derived from its inputs: the ids a keyed request
 * creates are the same however often it is retried, even if the gateway died before it could
 * store the answer.
 */
export function derivedUuid(...parts: string[]): string {
  const bytes = createHash('sha256').update(parts.join('\u0000')).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface IdempotencyOptions {
  /** `IDEMPOTENCY_TTL`: how long an answer is replayed. */
  ttlMs: number;
  /** How long an in-flight marker lives if its request never finishes (a crashed gateway). Default 60 s. */
  inFlightMs?: number;
}

const releaseIfOwned = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) in Redis. The first request
 * takes the key with an atomic SET NX PX in-flight marker; its answer then replaces the marker
 * for the TTL. Only answers the work produced are stored: a refused request can be retried.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly options: IdempotencyOptions,
  ) {}

  async claim(scope: string, key: string, fingerprint: string): Promise<IdempotencyClaim> {
    const redisKey = this.redisKey(scope, key);
    // A marker may expire between our SET and GET; then try to take it again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const owner = randomUUID();
      const marker: Entry = { state: 'in-flight', fingerprint, owner };
      const taken = await this.redis.set(redisKey, JSON.stringify(marker), 'PX', this.inFlightMs, 'NX');
      if (taken === 'OK') return { kind: 'first', owner };
      const raw = await this.redis.get(redisKey);
      if (raw === null) continue;
      const entry = JSON.parse(raw) as Entry;
      if (entry.fingerprint !== fingerprint) return { kind: 'mismatch' };
      return entry.state === 'done' ? { kind: 'replay', response: entry.response } : { kind: 'in-flight' };
    }
    return { kind: 'in-flight' };
  }

  async complete(scope: string, key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    const entry: Entry = { state: 'done', fingerprint, response };
    await this.redis.set(this.redisKey(scope, key), JSON.stringify(entry), 'PX', this.options.ttlMs);
  }

  /** Give the key back after a failure, if this request still holds it. */
  async abandon(scope: string, key: string, fingerprint: string, owner: string): Promise<void> {
    const marker: Entry = { state: 'in-flight', fingerprint, owner };
    await this.redis.eval(releaseIfOwned, 1, this.redisKey(scope, key), JSON.stringify(marker));
  }

  private get inFlightMs(): number {
    return Math.min(this.options.inFlightMs ?? 60_000, this.options.ttlMs);
  }

  private redisKey(scope: string, key: string): string {
    // Hashed: client text never becomes part of a Redis key name.
    return `${this.keyPrefix}idem:${scope}:${createHash('sha256').update(key).digest('base64url')}`;
  }
}
