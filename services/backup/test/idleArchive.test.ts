import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeMessage, Subjects, TenantArchived, WindowClosed } from '@ttm/contracts';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json, signUp } from '../../../test/support/http.js';
import { eventually, startConnectedStack, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { readTenantActivity, sweepIdleTenants } from '../src/idle/index.js';

const DAY = 86_400_000;
const PASSWORD = 'idle-for-a-month-please-42';
let stack: TestStack;
let nc: NatsConnection;

beforeAll(async () => {
  // Default plans: free 30 idle days, pro 90, enterprise 0 (never). The sweep is run by hand with its own clock.
  ({ stack, nc } = await startConnectedStack({
    backup: true,
    env: { BACKUP_SCHEDULE_EVERY: '0', IDLE_ARCHIVE_SWEEP_EVERY: '0' },
  }));
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

const idleDeps = () => stack.backup!.idleDeps;
const admin = adminFetch(() => stack.url);

interface IdlePage {
  items: { tenant_id: string; idle_days: number; last_sign_in_at: string | null; verdict: string }[];
  idle: number;
}

async function tenantStatus(tenantId: string): Promise<string | undefined> {
  const [t] = await readTenantActivity(idleDeps().pool, [tenantId]);
  return t?.status;
}

async function archivedEvents(tenantId: string) {
  const { events } = await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId));
  return events.filter((e) => e.type === TenantArchived.type).map((e) => TenantArchived.schema.parse(e.data));
}

/** What metering publishes when an hour with API calls of `tenantId` closes. */
async function apiCallsWindowClosed(tenantId: string, windowEnd: Date): Promise<void> {
  const windowStart = new Date(windowEnd.getTime() - 3_600_000).toISOString();
  await publishMessage(
    jetstream(nc),
    Subjects.billing(tenantId, 'api_calls'),
    encodeMessage(
      WindowClosed,
      {
        tenantId,
        meter: 'api_calls',
        kind: 'count',
        granularity: 'hour',
        windowStart,
        windowEnd: windowEnd.toISOString(),
        value: 12,
      },
      { source: '/ttm/metering', subject: tenantId, id: `${tenantId}/api_calls/hour/${windowStart}` },
    ),
  );
}

describe('archiving idle tenants', () => {
  it('archives a tenant idle past its plan days once, however many sweepers look, and its sign-in brings it back', async () => {
    const idle = await signUp(stack.gateway!, {
      name: 'Idle Org',
      email: 'owner@idle.test',
      password: PASSWORD,
      plan: 'free',
    });
    const busy = await signUp(stack.gateway!, {
      name: 'Busy Org',
      email: 'owner@busy.test',
      password: PASSWORD,
      plan: 'free',
    });
    const enterprise = await signUp(
      stack.gateway!,
      { name: 'Big Org', email: 'owner@big.test', password: PASSWORD, plan: 'enterprise' },
      60_000,
    );
    const ids = [idle, busy, enterprise].map((t) => t.entry.tenantId);
    const start = new Date();
    // 31 days on: past the free plan's 30. The busy tenant called the API 11 days before that.
    const now = new Date(start.getTime() + 31 * DAY);
    await apiCallsWindowClosed(busy.entry.tenantId, new Date(start.getTime() + 20 * DAY));

    // The sign-ins (AUDIT) and the api_calls window (BILLING) reach the backup service's projections.
    const known = await eventually(async () => {
      const rows = await readTenantActivity(idleDeps().pool, ids);
      const ready = rows.length === 3 && rows.every((r) => r.status === 'active' && r.lastSignInAt !== null);
      return ready && rows.find((r) => r.tenantId === busy.entry.tenantId)?.lastApiCallAt ? rows : undefined;
    }, 30_000);
    expect(known.find((r) => r.tenantId === idle.entry.tenantId)?.lastApiCallAt).toBeNull();

    // Nothing is idle today, as operators see it too.
    expect((await sweepIdleTenants(idleDeps(), start)).requested).toEqual([]);
    expect(await json<IdlePage>(await admin('/api/admin/tenants/idle'))).toEqual({
      items: [],
      idle: 0,
      truncated: false,
    });
    const all = await json<IdlePage>(await admin('/api/admin/tenants/idle?all=true'));
    const seen = Object.fromEntries(all.items.map((t) => [t.tenant_id, t]));
    expect(seen[idle.entry.tenantId]).toMatchObject({ idle_days: 30, verdict: 'in-use' });
    expect(seen[idle.entry.tenantId]!.last_sign_in_at).not.toBeNull();
    expect(seen[enterprise.entry.tenantId]).toMatchObject({ idle_days: 0, verdict: 'plan-never-idle' });

    // Two sweepers at once (two instances share the database), then a restarted one: one archive asked for.
    const sweeps = await Promise.all([sweepIdleTenants(idleDeps(), now), sweepIdleTenants(idleDeps(), now)]);
    const again = await sweepIdleTenants(idleDeps(), new Date(now.getTime() + 60_000));
    const requested = [...sweeps, again].flatMap((s) => s.requested);
    expect(requested.map((r) => r.tenantId)).toEqual([idle.entry.tenantId]);
    expect(sweeps.map((s) => s.candidates)).toEqual([1, 1]);

    await eventually(async () => ((await tenantStatus(idle.entry.tenantId)) === 'archived' ? true : undefined), 60_000);
    const archived = await archivedEvents(idle.entry.tenantId);
    expect(archived).toHaveLength(1);
    expect(archived[0]).toMatchObject({
      archiveId: requested[0]!.archiveId,
      reason: 'idle',
      actor: { kind: 'system', id: 'idle-sweep' },
    });
    for (const other of [busy, enterprise]) {
      expect(await tenantStatus(other.entry.tenantId)).toBe('active');
      expect(await archivedEvents(other.entry.tenantId)).toEqual([]);
    }
    const asked = await json<IdlePage>(await admin(`/api/admin/tenants/idle?tenant=${idle.entry.tenantId}`));
    expect(asked.items[0]).toMatchObject({ verdict: 'not-active' });
    // Archived, it is no candidate any more.
    expect(await sweepIdleTenants(idleDeps(), now)).toEqual({ candidates: 0, requested: [] });

    // Its next sign-in answers 202 with the restore, which brings it back.
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'owner@idle.test', password: PASSWORD }),
    });
    const restoring = await json<{ status: string; operation_id: string }>(login, 202);
    expect(restoring.status).toBe('restoring');
    await eventually(async () => ((await tenantStatus(idle.entry.tenantId)) === 'active' ? true : undefined), 60_000);
    // Back and active since now: not idle today, idle again 30 days after its return.
    const [back] = await readTenantActivity(idleDeps().pool, [idle.entry.tenantId]);
    expect(back!.activeSince!.getTime()).toBeGreaterThanOrEqual(start.getTime());
    expect((await sweepIdleTenants(idleDeps(), new Date())).requested).toEqual([]);
  }, 240_000);
});
