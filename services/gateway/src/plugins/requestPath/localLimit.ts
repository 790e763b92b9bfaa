import type { RatePolicy } from './rateLimiter.js';

/**
 * The rate limit one gateway applies on its own while Redis is slow or down
 * (RATE_LIMIT_FAILURE_MODE=local): the same GCRA as in Redis, in memory, over this instance's
 * share of the tenant's limit (`requests / gateways` per window, at least one).
 *
 * Bound: with N = RATE_LIMIT_GATEWAYS at least the number of gateways serving, all of them
 * together allow at most N x floor(limit / N) <= limit at once, plus the refill (limit per
 * window): the plan's limit, as with Redis. At the switch, an instance that had Redis's word on
 * the tenant starts from its share of what Redis said was left; one that had not starts with its
 * whole share, so the window in which Redis failed can see up to one extra share per such
 * instance (at most one extra limit in all).
 */
export interface LocalBucket {
  /** Theoretical arrival time, ms of the monotonic clock. */
  tat: number;
}

export type LocalDecision =
  | { outcome: 'allowed'; remaining: number; resetMs: number }
  | { outcome: 'limited'; retryAfterMs: number };

/** An instance's share of `policy` when `gateways` instances share it: same window, fewer requests. */
export function shareOf(policy: RatePolicy, gateways: number): RatePolicy {
  return { requests: Math.max(1, Math.floor(policy.requests / Math.max(1, gateways))), windowMs: policy.windowMs };
}

/** One GCRA step: take one request from `bucket` at `now` under `policy`. Pure. */
export function gcraTake(
  bucket: LocalBucket | undefined,
  policy: RatePolicy,
  now: number,
): { decision: LocalDecision; bucket: LocalBucket } {
  const emission = policy.windowMs / policy.requests;
  const tat = bucket && bucket.tat > now ? bucket.tat : now;
  const room = Math.floor((now + policy.windowMs - tat) / emission + 1e-9);
  if (room < 1) {
    return {
      decision: { outcome: 'limited', retryAfterMs: Math.max(0, tat + emission - policy.windowMs - now) },
      bucket: { tat },
    };
  }
  const next = tat + emission;
  return {
    decision: {
      outcome: 'allowed',
      remaining: Math.max(0, Math.floor((policy.windowMs - (next - now)) / emission + 1e-9)),
      resetMs: next - now,
    },
    bucket: { tat: next },
  };
}

/**
 * A bucket that starts with `room` requests left under `policy` at `now` (the share of what Redis
 * last said was left). Pure.
 */
export function bucketWithRoom(policy: RatePolicy, room: number, now: number): LocalBucket {
  const emission = policy.windowMs / policy.requests;
  const left = Math.max(0, Math.min(policy.requests, room));
  return { tat: now + policy.windowMs - left * emission };
}

/** What Redis last said about a tenant, to start its local bucket from. */
export interface LastKnown {
  /** Requests left for every instance together, and when Redis said so (monotonic ms). */
  remaining: number;
  at: number;
}

/** The in-memory buckets of one gateway's fallback; forgets a tenant once its bucket is full again. */
export class LocalRateLimit {
  private readonly buckets = new Map<string, LocalBucket>();

  constructor(private readonly gateways: number) {}

  take(tenantId: string, policy: RatePolicy, now: number, lastKnown?: LastKnown): LocalDecision {
    const share = shareOf(policy, this.gateways);
    let bucket = this.buckets.get(tenantId);
    if (!bucket && lastKnown) {
      // What Redis said was left, refilled since at the full rate, split between the instances.
      const refilled = (now - lastKnown.at) / (policy.windowMs / policy.requests);
      bucket = bucketWithRoom(share, Math.floor((lastKnown.remaining + refilled) / this.gateways), now);
    }
    const { decision, bucket: next } = gcraTake(bucket, share, now);
    this.buckets.set(tenantId, next);
    if (this.buckets.size > 10_000) this.prune(now);
    return decision;
  }

  /** Redis answers again: its state is the truth, local buckets start over at the next outage. */
  clear(): void {
    this.buckets.clear();
  }

  private prune(now: number): void {
    for (const [tenantId, bucket] of this.buckets) if (bucket.tat <= now) this.buckets.delete(tenantId);
  }
}
