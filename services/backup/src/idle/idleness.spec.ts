import { describe, expect, it } from 'vitest';
import { assessIdleness, type IdlePolicy, idleArchiveId, type TenantActivity } from './idleness.js';

const DAY = 86_400_000;
const now = new Date('2026-12-05T12:00:00.000Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * DAY);
const policy: IdlePolicy = {
  idleDaysOf: (plan) => ({ free: 30, pro: 90, enterprise: 0 })[plan] ?? 0,
  retryAfterMs: DAY,
};

/** A tenant active on `plan` since `activeDaysAgo`, with nothing else known. */
function tenant(plan: string, activeDaysAgo: number, more: Partial<TenantActivity> = {}): TenantActivity {
  return {
    tenantId: '0b7c1f4e-8a51-4d3c-9a77-1f1d1b2c3d4e',
    plan,
    status: 'active',
    activeSince: daysAgo(activeDaysAgo),
    lastApiCallAt: null,
    lastSignInAt: null,
    migrating: false,
    lastRequestedAt: null,
    ...more,
  };
}

/** given a tenant, when the sweep looks at `now`, then this assessment. */
const when = (t: TenantActivity, at = now) => assessIdleness(t, policy, at);

describe('who is idle', () => {
  it('a tenant never active counts from its activation: idle once its plan days have passed', () => {
    expect(when(tenant('free', 29))).toMatchObject({
      kind: 'in-use',
      idleAt: new Date(daysAgo(29).getTime() + 30 * DAY),
    });
    expect(when(tenant('free', 30))).toMatchObject({ kind: 'idle', lastActivityAt: daysAgo(30) });
  });

  it('its latest sign-in or API call restarts the clock', () => {
    expect(when(tenant('free', 200, { lastSignInAt: daysAgo(10) }))).toMatchObject({ kind: 'in-use' });
    expect(when(tenant('free', 200, { lastApiCallAt: daysAgo(1), lastSignInAt: daysAgo(60) }))).toMatchObject({
      kind: 'in-use',
      lastActivityAt: daysAgo(1),
    });
    expect(when(tenant('pro', 400, { lastApiCallAt: daysAgo(91), lastSignInAt: daysAgo(95) }))).toMatchObject({
      kind: 'idle',
      lastActivityAt: daysAgo(91),
    });
  });

  it('plans with 0 days (enterprise by default) and plans not configured are never idle', () => {
    expect(when(tenant('enterprise', 1000))).toEqual({ kind: 'skipped', reason: 'plan-never-idle' });
    expect(when(tenant('legacy', 1000))).toEqual({ kind: 'skipped', reason: 'plan-never-idle' });
  });

  it('only an active tenant is archived: not a suspended, archived or provisioning one', () => {
    for (const status of ['suspended', 'archived', 'provisioning', 'failed']) {
      expect(when(tenant('free', 100, { status }))).toEqual({ kind: 'skipped', reason: 'not-active' });
    }
  });

  it('a tenant being migrated waits', () => {
    expect(when(tenant('free', 100, { migrating: true }))).toEqual({ kind: 'skipped', reason: 'migrating' });
  });

  it('an archive asked for is not asked again before the retry delay, and is after it', () => {
    const asked = tenant('free', 100, { lastRequestedAt: new Date(now.getTime() - DAY / 2) });
    expect(when(asked)).toMatchObject({ kind: 'archive-asked' });
    expect(when(asked, new Date(now.getTime() + DAY / 2))).toMatchObject({ kind: 'idle' });
  });

  it('a request from an earlier idle spell (archived, then back) does not hold the next one', () => {
    const back = tenant('free', 40, { lastRequestedAt: daysAgo(41) });
    expect(when(back)).toMatchObject({ kind: 'idle', lastActivityAt: daysAgo(40) });
  });

  it('every sweeper derives the same archive id within a retry slot, a new one after it or after new activity', () => {
    const id = idleArchiveId('t', daysAgo(40), now, DAY);
    expect(idleArchiveId('t', daysAgo(40), new Date(now.getTime() + 1_000), DAY)).toBe(id);
    expect(idleArchiveId('t', daysAgo(40), new Date(now.getTime() + DAY), DAY)).not.toBe(id);
    expect(idleArchiveId('t', daysAgo(39), now, DAY)).not.toBe(id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
