import { createHash } from 'node:crypto';
import type { Redis } from '@ttm/service-kit';

export interface LoginLimits {
  /** `LOGIN_MAX_FAILURES`: failed logins per email inside the window before 429. */
  maxFailuresPerEmail: number;
  /** Failed logins per client address inside the window (4x the per-email limit). */
  maxFailuresPerAddress: number;
  /** `LOGIN_FAILURE_WINDOW`: starts at the first failure, so it cannot be kept open by trickling. */
  windowMs: number;
}

/** How a counter stands: its count and how long its window still runs (Redis PTTL). */
export interface FailureCount {
  count: number;
  remainingMs: number;
}

/**
 * Seconds a caller must wait before trying again, or undefined when the counter allows an
 * attempt. Pure: the arithmetic of the limit, separate from Redis.
 */
export function retryAfterSeconds(counter: FailureCount, limit: number, windowMs: number): number | undefined {
  if (counter.count < limit) return undefined;
  // A counter without expiry (PTTL -1) should not exist; treat it as a whole window.
  const remaining = counter.remainingMs > 0 ? counter.remainingMs : windowMs;
  return Math.max(1, Math.ceil(remaining / 1_000));
}

/**
 * Failed logins counted per email and per client address in Redis, each over a fixed window
 * that starts at its first failure. Checked before the password is verified, so a blocked
 * caller costs no argon2 work. Emails are hashed in key names: no addresses in Redis dumps.
 */
export class LoginLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly limits: LoginLimits,
  ) {}

  /** Seconds to wait if either counter is over its limit; undefined if the attempt may proceed. */
  async blockedFor(email: string, address: string): Promise<number | undefined> {
    const [byEmail, byAddress] = await Promise.all([
      this.read(this.emailKey(email)),
      this.read(this.addressKey(address)),
    ]);
    const waits = [
      retryAfterSeconds(byEmail, this.limits.maxFailuresPerEmail, this.limits.windowMs),
      retryAfterSeconds(byAddress, this.limits.maxFailuresPerAddress, this.limits.windowMs),
    ].filter((wait): wait is number => wait !== undefined);
    return waits.length === 0 ? undefined : Math.max(...waits);
  }

  async recordFailure(email: string, address: string): Promise<void> {
    const window = String(this.limits.windowMs);
    const transaction = this.redis.multi();
    for (const key of [this.emailKey(email), this.addressKey(address)]) {
      // SET NX PX starts the window at the first failure; INCR keeps the expiry it set.
      transaction.set(key, '0', 'PX', window, 'NX').incr(key);
    }
    await transaction.exec();
  }

  /** A successful login clears its email's failures (not its address's: one good account behind a NAT). */
  async recordSuccess(email: string): Promise<void> {
    await this.redis.del(this.emailKey(email));
  }

  private async read(key: string): Promise<FailureCount> {
    const result = await this.redis.multi().get(key).pttl(key).exec();
    const count = Number(result?.[0]?.[1] ?? 0);
    const remainingMs = Number(result?.[1]?.[1] ?? -2);
    return { count: Number.isFinite(count) ? count : 0, remainingMs };
  }

  private emailKey(email: string): string {
    const digest = createHash('sha256').update(email.toLowerCase()).digest('base64url');
    return `${this.keyPrefix}login-failures:email:${digest}`;
  }

  private addressKey(address: string): string {
    return `${this.keyPrefix}login-failures:address:${address}`;
  }
}
