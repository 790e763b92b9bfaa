import { createHash } from 'node:crypto';
import type { Redis } from '@ttm/service-kit';
import { WindowCounters } from './windowCounters.js';

export interface LoginLimits {
  /** `LOGIN_MAX_FAILURES`: failed logins per account (organization + email) inside the window before 429. */
  maxFailuresPerAccount: number;
  /** `LOGIN_MAX_HASHES_PER_ADDRESS`: password hashes checked for one client address inside the window. */
  maxHashesPerAddress: number;
  /** `LOGIN_FAILURE_WINDOW`: starts at the first attempt, so it cannot be kept open by trickling. */
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

/** One account a login may open: an organization's user with this email (or the email alone, when none). */
export interface LoginAccount {
  /** Undefined when the email administers no organization: the email itself is then counted. */
  tenantId: string | undefined;
  email: string;
}

/**
 * Login attempts counted in Redis over fixed windows that start at their first attempt:
 *   - per account (organization + email): one attempt reserved before the password is checked,
 *     given back only to an account whose password matched, so a success elsewhere (a look-alike
 *     organization with the same email) never clears another account's failures;
 *   - per client address: every password hash checked, whatever the outcome (successes and
 *     "choose an organization" too), since each costs the same argon2 work.
 * The reservation is one Lua script (`WindowCounters`), so concurrent attempts cannot all slip under the limit.
 * Emails are hashed in key names: no addresses in Redis dumps.
 */
export class LoginLimiter {
  private readonly counters: WindowCounters;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
    private readonly limits: LoginLimits,
  ) {
    this.counters = new WindowCounters(redis, limits.windowMs);
  }

  /**
   * Reserve one attempt on each account and `hashes` on the address. Answers the seconds to wait
   * when a counter is full (nothing is then taken), or undefined when the attempt may proceed.
   */
  async reserve(accounts: LoginAccount[], address: string, hashes: number): Promise<number | undefined> {
    return this.counters.reserve([
      ...accounts.map((account) => ({
        key: this.accountKey(account),
        limit: this.limits.maxFailuresPerAccount,
        cost: 1,
      })),
      { key: this.addressKey(address), limit: this.limits.maxHashesPerAddress, cost: hashes },
    ]);
  }

  /** The account's password matched: its failures are forgotten (not its address's hashes). */
  async succeeded(accounts: LoginAccount[]): Promise<void> {
    await this.counters.clear(accounts.map((account) => this.accountKey(account)));
  }

  private accountKey(account: LoginAccount): string {
    const digest = createHash('sha256')
      .update(`${account.tenantId ?? '*'}\n${account.email.toLowerCase()}`)
      .digest('base64url');
    return `${this.keyPrefix}login-attempts:account:${digest}`;
  }

  private addressKey(address: string): string {
    return `${this.keyPrefix}login-hashes:address:${address}`;
  }
}
