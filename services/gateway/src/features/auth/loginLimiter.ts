import { createHash } from 'node:crypto';
import type { Redis } from '@ttm/service-kit';

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

/**
 * Check every counter, then take from all of them, in one step: either each account gains one
 * attempt and the address gains `cost` hashes, or nothing changes and the longest wait (ms) of a
 * counter that is full is answered. KEYS: the account counters, then the address counter last.
 * ARGV: account limit, address limit, window ms, address cost.
 */
const RESERVE_SCRIPT = `
local n = #KEYS
local wait = 0
for i = 1, n do
  local limit, cost = tonumber(ARGV[1]), 1
  if i == n then limit, cost = tonumber(ARGV[2]), tonumber(ARGV[4]) end
  local count = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if count + cost > limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl <= 0 then ttl = tonumber(ARGV[3]) end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, n do
  local cost = 1
  if i == n then cost = tonumber(ARGV[4]) end
  redis.call('SET', KEYS[i], '0', 'PX', ARGV[3], 'NX')
  redis.call('INCRBY', KEYS[i], cost)
end
return 0
`;

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
 * The reservation is one Lua script, so concurrent attempts cannot all slip under the limit.
 * Emails are hashed in key names: no addresses in Redis dumps.
 */
export class LoginLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly limits: LoginLimits,
  ) {}

  /**
   * Reserve one attempt on each account and `hashes` on the address. Answers the seconds to wait
   * when a counter is full (nothing is then taken), or undefined when the attempt may proceed.
   */
  async reserve(accounts: LoginAccount[], address: string, hashes: number): Promise<number | undefined> {
    const keys = [...accounts.map((account) => this.accountKey(account)), this.addressKey(address)];
    const cost = Math.max(1, Math.min(hashes, this.limits.maxHashesPerAddress));
    const wait = Number(
      await this.redis.eval(
        RESERVE_SCRIPT,
        keys.length,
        ...keys,
        this.limits.maxFailuresPerAccount,
        this.limits.maxHashesPerAddress,
        this.limits.windowMs,
        cost,
      ),
    );
    return wait > 0 ? Math.max(1, Math.ceil(wait / 1_000)) : undefined;
  }

  /** The account's password matched: its failures are forgotten (not its address's hashes). */
  async succeeded(accounts: LoginAccount[]): Promise<void> {
    if (accounts.length === 0) return;
    await this.redis.del(...accounts.map((account) => this.accountKey(account)));
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
