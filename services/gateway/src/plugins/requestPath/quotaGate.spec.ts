import type { QuotaStateEntry } from '@ttm/contracts';
import { createLogger } from '@ttm/service-kit';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { requestPathMetrics } from './metrics.js';
import { QuotaGate } from './quotaGate.js';
import { maxLeaseFor } from './rateLimiter.js';

const tenant = '0b5e4b6a-1c1e-4c55-9b1a-8f1f7d0e2a11';
const period = '2026-11-01T00:00:00.000Z';
const inNovember = Date.parse('2026-11-20T12:00:00Z');

function entry(
  overrides: Partial<Record<'api_calls' | 'storage_bytes' | 'users', Partial<QuotaStateEntry['users']>>> = {},
) {
  const meter = (limit: number, part: Partial<QuotaStateEntry['users']> = {}) => ({
    limit,
    used: 0,
    state: 'ok' as const,
    ...part,
  });
  return {
    api_calls: meter(100, overrides.api_calls),
    storage_bytes: meter(1_000, overrides.storage_bytes),
    users: meter(3, overrides.users),
    plan: 'pro',
    period,
    updatedAt: period,
  } satisfies QuotaStateEntry;
}

function gate() {
  const registry = new Registry();
  return { gate: new QuotaGate(createLogger('test', 'silent'), requestPathMetrics(registry)), registry };
}

const read = { write: false, routeMeter: undefined };
const write = { write: true, routeMeter: undefined };
const invite = { write: true, routeMeter: 'users' as const };

describe('QuotaGate', () => {
  it('enforces nothing for a tenant without a state', () => {
    const { gate: g } = gate();
    expect(g.check(tenant, write, inNovember)).toBeUndefined();
  });

  it('refuses every call over api_calls until the next UTC month', () => {
    const { gate: g } = gate();
    g.apply(tenant, entry({ api_calls: { used: 100, state: 'exceeded' } }));
    expect(g.check(tenant, read, inNovember)).toMatchObject({ meter: 'api_calls', limit: 100, used: 100 });
    expect(g.check(tenant, read, inNovember)?.retryAfterMs).toBe(Date.parse('2026-12-01T00:00:00Z') - inNovember);
    // December: the November count no longer applies.
    expect(g.check(tenant, read, Date.parse('2026-12-01T00:00:01Z'))).toBeUndefined();
  });

  it('counts its own calls since the state, never refusing before the limit', () => {
    const { gate: g } = gate();
    g.apply(tenant, entry({ api_calls: { used: 97 } }));
    for (let i = 0; i < 3; i++) {
      expect(g.check(tenant, read, inNovember)).toBeUndefined();
      g.counted(tenant);
    }
    expect(g.check(tenant, read, inNovember)).toMatchObject({ meter: 'api_calls', used: 100 });
    // A new state (an override) starts the local count again.
    g.apply(tenant, entry({ api_calls: { used: 100, limit: 1_000 } }));
    expect(g.check(tenant, read, inNovember)).toBeUndefined();
  });

  it('over storage refuses writes only; over users refuses only invitations', () => {
    const { gate: g } = gate();
    g.apply(tenant, entry({ storage_bytes: { used: 2_000, state: 'exceeded' } }));
    expect(g.check(tenant, read, inNovember)).toBeUndefined();
    expect(g.check(tenant, write, inNovember)).toMatchObject({ meter: 'storage_bytes', limit: 1_000 });

    g.apply(tenant, entry({ users: { used: 3, state: 'exceeded' } }));
    expect(g.check(tenant, write, inNovember)).toBeUndefined();
    expect(g.check(tenant, invite, inNovember)).toMatchObject({ meter: 'users', limit: 3 });

    g.apply(tenant, undefined);
    expect(g.check(tenant, invite, inNovember)).toBeUndefined();
  });

  it('counts state changes and ignores entries that break the contract', async () => {
    const { gate: g, registry } = gate();
    g.apply(tenant, entry());
    g.apply(tenant, entry({ api_calls: { used: 100, state: 'exceeded' } }));
    g.apply(tenant, { nonsense: true });
    expect(g.check(tenant, read, inNovember)?.meter).toBe('api_calls');
    const text = await registry.getSingleMetricAsString('gateway_quota_state_changes_total');
    expect(text).toContain('gateway_quota_state_changes_total{meter="api_calls",state="exceeded"} 1');
    expect(text).toContain('gateway_quota_state_changes_total{meter="users",state="ok"} 1');
  });
});

describe('lease size', () => {
  it('is one request (exact) for limits under 200, 1 % of larger ones, 64 at most', () => {
    expect(maxLeaseFor({ requests: 100, windowMs: 60_000 })).toBe(1);
    expect(maxLeaseFor({ requests: 199, windowMs: 60_000 })).toBe(1);
    expect(maxLeaseFor({ requests: 1_000, windowMs: 60_000 })).toBe(10);
    expect(maxLeaseFor({ requests: 10_000_000, windowMs: 60_000 })).toBe(64);
  });
});
