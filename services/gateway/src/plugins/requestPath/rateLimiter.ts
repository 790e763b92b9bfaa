import type { Logger, Redis } from '@ttm/service-kit';
import { LocalRateLimit } from './localLimit.js';
import type { RequestPathMetrics } from './metrics.js';

/** A plan's limit: `requests` per `windowMs`, all of them usable at once (burst = requests). */
export interface RatePolicy {
  requests: number;
  windowMs: number;
}

/** What the limiter decided for one request. */
export type RateDecision =
  | {
      outcome: 'allowed';
      /** Requests left right now (the `r` of the RateLimit field). */
      remaining: number;
      /** Until the whole quota is available again, ms (the `t` of the RateLimit field). */
      resetMs: number;
    }
  | {
      outcome: 'limited';
      /** Until the next request is allowed, ms (Retry-After, and `t` with `r=0`). */
      retryAfterMs: number;
    }
  /**
   * Redis did not answer in time or is down, and no local fallback is configured: the caller
   * applies RATE_LIMIT_FAILURE_MODE (`open` or `closed`).
   */
  | { outcome: 'unavailable' };

/**
 * GCRA (the generic cell rate algorithm, a leaky bucket kept as one number): per tenant, the
 * "theoretical arrival time" (TAT), in microseconds of the Redis clock. `window - (TAT - now)`
 * is the room left, one request costing one emission interval (window / requests); the whole
 * quota is usable at once. This script takes up to ARGV[3] requests: as many as there is room
 * for, at least one, or none and then it changes nothing, so the moment it names (`retry`)
 * stays exact until another request is allowed: that is what lets the gateway refuse locally
 * until then without asking Redis again.
 *
 * One round trip (EVALSHA of this script), atomic, the clock of the Redis server (gateway
 * clocks may disagree), the key expiring once the bucket is full again.
 *
 * Returns {granted, remaining, retry_us, reset_us}.
 */
export const GCRA_SCRIPT = `
local emission = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local room = math.floor((now + window - tat) / emission)
if room < 1 then
  return {0, 0, math.ceil(tat + emission - window - now), math.ceil(tat - now)}
end
local granted = math.min(want, room)
local next_tat = tat + granted * emission
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return {granted, math.floor((window - (next_tat - now)) / emission), 0, math.ceil(next_tat - now)}
`;

type GcraReply = [granted: number, remaining: number, retryUs: number, resetUs: number];

interface GcraClient {
  ttmGcra(key: string, emissionUs: string, windowUs: string, want: number): Promise<GcraReply>;
}

export interface RateLimiterOptions {
  /** The gateway's Redis client; the limiter opens its own connection from it (own timeouts). */
  redis: Redis;
  keyPrefix: string;
  /** Longest wait for Redis; past it the request is `unavailable` (RATE_LIMIT_REDIS_TIMEOUT; 0: no limit). */
  timeoutMs: number;
  /**
   * RATE_LIMIT_FAILURE_MODE=local: while Redis is slow or down, decide locally over this
   * instance's share of each limit (limit / `gateways`, RATE_LIMIT_GATEWAYS) instead of answering
   * `unavailable`.
   */
  localFallback?: { gateways: number };
  logger: Logger;
  metrics: RequestPathMetrics;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

/**
 * Requests taken from Redis in advance, already counted there: spent locally by one instance.
 * Granted only to a tenant busy on this instance, and at most 1 % of its limit (so a limit
 * under 200 requests is always decided request by request, exactly).
 */
interface Lease {
  credits: number;
  /** Credits unused by then are dropped (the tenant went quiet; they were counted in Redis). */
  expiresAt: number;
  /** The next lease's size: doubles while the tenant keeps coming back within `busyWithinMs`. */
  size: number;
  fetchedAt: number;
  /** From Redis's last answer, for the RateLimit field. */
  remaining: number;
  resetAt: number;
  refilling: boolean;
}

/** After a timeout, how long Redis is left alone (every request takes the failure mode at once). */
const backOffAfterTimeoutMs = 1_000;
/** At most one warning line per this long while Redis fails. */
const logEveryMs = 10_000;
/** A tenant that asks Redis again within this long is busy here: its leases grow. */
const busyWithinMs = 100;
/** How long leased credits stay usable. */
const leaseTtlMs = 1_000;
/** Largest lease, and the share of the limit a lease may be. */
const maxLease = 64;
const maxLeaseShare = 0.01;

/**
 * The tenant rate limit, shared by every gateway instance through Redis (one EVALSHA per
 * decision), with two local fast paths that keep it precise:
 *
 * - limited: once Redis said "limited until T", this instance refuses the tenant until T without
 *   asking (exact, since a refused request does not move the GCRA state);
 * - leases: a tenant busy on this instance takes a few requests at once (up to 1 % of its limit,
 *   64 at most; exactly one for limits under 200), spends them locally and refills in the
 *   background before they run out, so a busy tenant's requests rarely wait for Redis. Leased
 *   requests are counted in Redis when taken, so all instances together never allow more than
 *   the limit; a lease spent up to `leaseTtlMs` after it was taken can only shift at most its
 *   size into a later window: per window, at most (instances x lease size) over the GCRA
 *   allowance, i.e. 1 % of the limit per instance.
 *
 * Redis unreachable: its client does not queue commands (they fail at once); slow: the command
 * times out after `timeoutMs`, and for a second after a timeout no command is sent, so a hanging
 * Redis costs each request nothing. Either way the caller gets `unavailable`.
 */
export class RateLimiter {
  private readonly client: Redis & GcraClient;
  /** Settles once the first connection attempt ended (connected or not): await it before serving. */
  readonly connected: Promise<void>;
  private readonly limitedUntil = new Map<string, number>();
  private readonly leases = new Map<string, Lease>();
  private readonly now: () => number;
  private skipRedisUntil = 0;
  private failuresSinceLog = 0;
  private lastLogAt = 0;
  private readonly local: LocalRateLimit | undefined;
  private onFallback = false;

  constructor(private readonly options: RateLimiterOptions) {
    this.now = options.now ?? (() => performance.now());
    this.local = options.localFallback ? new LocalRateLimit(options.localFallback.gateways) : undefined;
    options.metrics.fallbackActive.set(0);
    // Its own connection: a short command timeout and auto-pipelining (the commands of one event
    // loop turn leave in one write) without changing the shared client's behaviour.
    const client = options.redis.duplicate({
      commandTimeout: options.timeoutMs > 0 ? options.timeoutMs : undefined,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: true,
      lazyConnect: true,
    });
    client.on('error', (error) => options.logger.debug({ err: error }, 'rate limiter Redis error'));
    client.defineCommand('ttmGcra', { numberOfKeys: 1, lua: GCRA_SCRIPT });
    this.client = client as Redis & GcraClient;
    // Connection failures are handled per request (`unavailable`); reconnection is ioredis's job.
    this.connected = this.client.connect().catch((error: unknown) => {
      options.logger.warn({ err: error }, 'rate limiter cannot connect to Redis yet; applying RATE_LIMIT_FAILURE_MODE');
    });
  }

  /** Decide one request of `tenantId` under `policy`. Never throws. */
  async take(tenantId: string, policy: RatePolicy): Promise<RateDecision> {
    const now = this.now();
    const lease = this.leases.get(tenantId);
    if (lease && lease.credits > 0) {
      if (now < lease.expiresAt) {
        lease.credits--;
        if (lease.credits <= lease.size / 2 && !lease.refilling) void this.refill(tenantId, policy, lease);
        return {
          outcome: 'allowed',
          remaining: Math.max(0, lease.remaining + lease.credits),
          resetMs: Math.max(0, lease.resetAt - now),
        };
      }
      this.options.metrics.leaseCreditsExpired.inc(lease.credits);
      lease.credits = 0;
    }
    const until = this.limitedUntil.get(tenantId);
    if (until !== undefined) {
      if (now < until) return { outcome: 'limited', retryAfterMs: until - now };
      this.limitedUntil.delete(tenantId);
    }
    if (now < this.skipRedisUntil || this.client.status !== 'ready') {
      this.failed('unavailable', undefined);
      return this.decideLocally(tenantId, policy, lease);
    }
    const size = leaseSize(policy, lease, now);
    const started = performance.now();
    try {
      const [granted, remaining, retryUs, resetUs] = await this.ask(tenantId, policy, size);
      this.redisAnswered();
      if (granted === 0) {
        const retryAfterMs = retryUs / 1_000;
        // Measured from when the request was sent: the local refusal ends no later than Redis's.
        this.limitedUntil.set(tenantId, started + retryAfterMs);
        return { outcome: 'limited', retryAfterMs };
      }
      if (size > 1 || lease) {
        const held = this.leases.get(tenantId);
        const next: Lease = held ?? {
          credits: 0,
          expiresAt: 0,
          size,
          fetchedAt: 0,
          remaining,
          resetAt: 0,
          refilling: false,
        };
        next.credits += granted - 1;
        next.expiresAt = started + leaseTtlMs;
        next.size = size;
        next.fetchedAt = started;
        next.remaining = remaining;
        next.resetAt = started + resetUs / 1_000;
        this.leases.set(tenantId, next);
      } else {
        // A tenant's first request (or one after a quiet spell): remember when, to see it is busy.
        this.leases.set(tenantId, {
          credits: 0,
          expiresAt: 0,
          size: 1,
          fetchedAt: started,
          remaining,
          resetAt: started + resetUs / 1_000,
          refilling: false,
        });
      }
      return { outcome: 'allowed', remaining, resetMs: resetUs / 1_000 };
    } catch (error) {
      this.redisFailed(error);
      return this.decideLocally(tenantId, policy, this.leases.get(tenantId));
    }
  }

  async close(): Promise<void> {
    this.limitedUntil.clear();
    this.leases.clear();
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /** Top up a busy tenant's lease in the background, before it runs out. */
  private async refill(tenantId: string, policy: RatePolicy, lease: Lease): Promise<void> {
    const started = this.now();
    if (started < this.skipRedisUntil || this.client.status !== 'ready') return;
    lease.refilling = true;
    const size = Math.min(maxLeaseFor(policy), lease.size * 2);
    try {
      const [granted, remaining, retryUs, resetUs] = await this.ask(tenantId, policy, size);
      this.redisAnswered();
      if (granted === 0) {
        this.limitedUntil.set(tenantId, started + retryUs / 1_000);
        return;
      }
      if (started >= lease.expiresAt) {
        this.options.metrics.leaseCreditsExpired.inc(lease.credits);
        lease.credits = 0;
      }
      lease.credits += granted;
      lease.expiresAt = started + leaseTtlMs;
      lease.size = size;
      lease.fetchedAt = started;
      lease.remaining = remaining;
      lease.resetAt = started + resetUs / 1_000;
    } catch (error) {
      this.redisFailed(error);
    } finally {
      lease.refilling = false;
    }
  }

  private async ask(tenantId: string, policy: RatePolicy, want: number): Promise<GcraReply> {
    const started = performance.now();
    const reply = await this.client.ttmGcra(
      `${this.options.keyPrefix}ratelimit:${tenantId}`,
      ((policy.windowMs * 1_000) / policy.requests).toFixed(3),
      String(policy.windowMs * 1_000),
      want,
    );
    this.options.metrics.redisSeconds.observe((performance.now() - started) / 1_000);
    return reply;
  }

  /** RATE_LIMIT_FAILURE_MODE=local: this instance's share of the limit, in memory; else `unavailable`. */
  private decideLocally(tenantId: string, policy: RatePolicy, lease: Lease | undefined): RateDecision {
    if (!this.local) return { outcome: 'unavailable' };
    if (!this.onFallback) {
      this.onFallback = true;
      this.options.metrics.fallbackActive.set(1);
      this.options.logger.warn(
        { gateways: this.options.localFallback?.gateways, status: this.client.status },
        "rate limiter on local fallback: Redis is slow or down, each tenant gets this gateway's share of its limit",
      );
    }
    this.options.metrics.fallbackDecisions.inc();
    const now = this.now();
    const lastKnown = lease && lease.fetchedAt > 0 ? { remaining: lease.remaining, at: lease.fetchedAt } : undefined;
    return this.local.take(tenantId, policy, now, lastKnown);
  }

  private redisAnswered(): void {
    if (!this.onFallback) return;
    this.onFallback = false;
    this.local?.clear();
    this.options.metrics.fallbackActive.set(0);
    this.options.logger.info('rate limiter back on Redis: local fallback ended');
  }

  private redisFailed(error: unknown): void {
    const timedOut = (error as Error).message.includes('timed out');
    if (timedOut) this.skipRedisUntil = this.now() + backOffAfterTimeoutMs;
    this.failed(timedOut ? 'timeout' : 'error', error);
  }

  private failed(reason: 'timeout' | 'error' | 'unavailable', error: unknown): void {
    this.options.metrics.redisFailures.inc({ reason });
    this.failuresSinceLog++;
    const now = this.now();
    if (now - this.lastLogAt < logEveryMs) return;
    this.options.logger.warn(
      { err: error, reason, failures: this.failuresSinceLog, status: this.client.status },
      'rate limiter cannot reach Redis; applying RATE_LIMIT_FAILURE_MODE',
    );
    this.lastLogAt = now;
    this.failuresSinceLog = 0;
  }
}

/** The most one lease may hold under `policy`: 1 % of the limit, 64 at most, at least 1. */
export function maxLeaseFor(policy: RatePolicy): number {
  return Math.max(1, Math.min(maxLease, Math.floor(policy.requests * maxLeaseShare)));
}

/** One request, or a growing lease while the tenant keeps coming back to Redis within `busyWithinMs`. */
function leaseSize(policy: RatePolicy, lease: Lease | undefined, now: number): number {
  const most = maxLeaseFor(policy);
  if (most === 1 || !lease || now - lease.fetchedAt > busyWithinMs) return 1;
  return Math.min(most, lease.size * 2);
}
