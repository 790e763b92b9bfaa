import { describe, expect, it } from 'vitest';
import { bucketWithRoom, gcraTake, type LocalBucket, LocalRateLimit, shareOf } from './localLimit.js';

const tenant = 'tenant-a';
const hourly = { requests: 20, windowMs: 3_600_000 };

function takeMany(limit: LocalRateLimit, n: number, now: number, gateways = [limit]) {
  let allowed = 0;
  for (let i = 0; i < n; i++) {
    if (gateways[i % gateways.length]!.take(tenant, hourly, now).outcome === 'allowed') allowed++;
  }
  return allowed;
}

describe('gcraTake', () => {
  it('allows the whole limit at once, then refuses until one emission interval refilled', () => {
    let bucket: LocalBucket | undefined;
    for (let i = 0; i < 20; i++) {
      const step = gcraTake(bucket, hourly, 0);
      expect(step.decision).toMatchObject({ outcome: 'allowed', remaining: 19 - i });
      bucket = step.bucket;
    }
    const refused = gcraTake(bucket, hourly, 0);
    expect(refused.decision).toEqual({ outcome: 'limited', retryAfterMs: 180_000 });
    expect(gcraTake(refused.bucket, hourly, 179_999).decision.outcome).toBe('limited');
    expect(gcraTake(refused.bucket, hourly, 180_000).decision.outcome).toBe('allowed');
  });

  it('a refusal changes nothing', () => {
    const full = bucketWithRoom(hourly, 0, 0);
    expect(gcraTake(full, hourly, 10).bucket).toEqual(full);
  });
});

describe('shareOf', () => {
  it('splits the requests, keeps the window, never below one', () => {
    expect(shareOf(hourly, 2)).toEqual({ requests: 10, windowMs: 3_600_000 });
    expect(shareOf(hourly, 3)).toEqual({ requests: 6, windowMs: 3_600_000 });
    expect(shareOf({ requests: 2, windowMs: 1_000 }, 5)).toEqual({ requests: 1, windowMs: 1_000 });
  });
});

describe('LocalRateLimit', () => {
  it('N instances on fallback together allow at most the limit', () => {
    const gateways = [new LocalRateLimit(2), new LocalRateLimit(2)];
    expect(takeMany(gateways[0]!, 100, 0, gateways)).toBe(20);
    const three = [new LocalRateLimit(3), new LocalRateLimit(3), new LocalRateLimit(3)];
    expect(takeMany(three[0]!, 100, 0, three)).toBeLessThanOrEqual(20);
  });

  it('starts from its share of what Redis last said was left', () => {
    const limit = new LocalRateLimit(2);
    // Redis said 6 left for both instances a moment ago: this one takes 3.
    let allowed = 0;
    for (let i = 0; i < 10; i++) {
      if (limit.take(tenant, hourly, 1_000, { remaining: 6, at: 1_000 }).outcome === 'allowed') allowed++;
    }
    expect(allowed).toBe(3);
  });

  it('counts what refilled since Redis last answered', () => {
    const limit = new LocalRateLimit(1);
    // 0 left an emission interval ago: one request refilled.
    expect(limit.take(tenant, hourly, 180_000, { remaining: 0, at: 0 }).outcome).toBe('allowed');
    expect(limit.take(tenant, hourly, 180_000).outcome).toBe('limited');
  });

  it('starts over after clear()', () => {
    const limit = new LocalRateLimit(1);
    expect(takeMany(limit, 30, 0)).toBe(20);
    limit.clear();
    expect(takeMany(limit, 30, 0)).toBe(20);
  });
});
