import type { Redis } from '@ttm/service-kit';

/** One counter a reservation takes from: its Redis key, its limit per window, what this attempt costs. */
export interface CounterCharge {
  key: string;
  limit: number;
  cost: number;
}

/**
 * Check every counter, then take from all of them, in one step: either each counter gains its
 * cost, or nothing changes and the longest wait (ms) of a counter that would overflow is answered.
 * KEYS: the counters. ARGV: window ms, then limit and cost of each counter in KEYS order.
 */
const RESERVE_SCRIPT = `
local n = #KEYS
local window = tonumber(ARGV[1])
local wait = 0
for i = 1, n do
  local limit, cost = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local count = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if count + cost > limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl <= 0 then ttl = window end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, n do
  redis.call('SET', KEYS[i], '0', 'PX', window, 'NX')
  redis.call('INCRBY', KEYS[i], tonumber(ARGV[2 * i + 1]))
end
return 0
`;

/**
 * Counters over fixed windows that start at their first charge (so trickling cannot keep one
 * open), shared by every gateway through Redis. A reservation is one Lua script: concurrent
 * attempts cannot all slip under a limit, and a refused attempt takes nothing. The login limiter
 * and the registration limiter are both made of these.
 */
export class WindowCounters {
  constructor(
    private readonly redis: Redis,
    private readonly windowMs: number,
  ) {}

  /** Seconds to wait when a counter is full (nothing is then taken), or undefined when all were charged. */
  async reserve(charges: CounterCharge[]): Promise<number | undefined> {
    if (charges.length === 0) return undefined;
    const argv = charges.flatMap((c) => [c.limit, Math.max(1, Math.min(c.cost, c.limit))]);
    const wait = Number(
      await this.redis.eval(RESERVE_SCRIPT, charges.length, ...charges.map((c) => c.key), this.windowMs, ...argv),
    );
    return wait > 0 ? Math.max(1, Math.ceil(wait / 1_000)) : undefined;
  }

  /** Forget these counters (a success that clears earlier failures). */
  async clear(keys: string[]): Promise<void> {
    if (keys.length > 0) await this.redis.del(...keys);
  }
}
