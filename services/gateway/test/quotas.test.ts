import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json, problem, signUp } from '../../../test/support/http.js';
import { metricValue } from '../../../test/support/metrics.js';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { publishUsage } from '../../../test/support/usage.js';
import type { QuotaOverrideResult, QuotaReport, UsageReport } from '../src/features/quotas/schemas.js';

const PASSWORD = 'correct-Horse-battery-9';

let stack: TestStack;
let a: { tenantId: string; token: string };
let b: { tenantId: string; token: string };
let batch = 0;

beforeAll(async () => {
  stack = await startStack({
    metering: true,
    quota: true,
    env: { METERING_SAMPLE_INTERVAL: '1h', METERING_CLOSE_INTERVAL: '1h', QUOTA_WARNING_THRESHOLD: '80' },
  });
  [a, b] = await Promise.all([signedUpTenant('Quota A'), signedUpTenant('Quota B')]);
  // The quota service evaluates a tenant once the provisioner wrote its plan limits.
  await eventually(async () => ((await tenantQuotas(a.token)).enforced ? true : undefined), 15_000);
}, 90_000);

afterAll(async () => {
  await stack?.stop();
});

async function signedUpTenant(name: string): Promise<{ tenantId: string; token: string }> {
  const email = `admin-${randomUUID().slice(0, 8)}@quota.test`;
  const { entry, token } = await signUp(stack.gateway!, { name, email, password: PASSWORD, plan: 'free' });
  return { tenantId: entry.tenantId, token };
}

const admin = adminFetch(() => stack.url, { 'x-admin-actor': 'ops@quota.test' });

function tenant(token: string, path: string): Promise<Response> {
  return fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

const tenantQuotas = async (token: string) => json<QuotaReport>(await tenant(token, '/api/tenant/quotas'));
const quotaOf = (report: QuotaReport, quota: string) => report.quotas.find((q) => q.quota === quota)!;

const override = (tenantId: string, body: unknown) =>
  admin(`/api/admin/tenants/${tenantId}/quotas`, { method: 'PUT', body: JSON.stringify(body) });

describe('quota routes', () => {
  it('shows the plan limits before any override', async () => {
    const report = await tenantQuotas(a.token);
    expect(report).toMatchObject({ tenant_id: a.tenantId, plan: 'free', enforced: true });
    expect(report.quotas.map((q) => q.quota).sort()).toEqual(['api_calls_per_month', 'storage_bytes', 'users']);
    expect(quotaOf(report, 'api_calls_per_month')).toMatchObject({
      meter: 'api_calls',
      limit: 100_000,
      overridden: false,
      state: 'ok',
    });
  });

  it('overrides a limit: 200 once in force, visible in the state, audited; usage turns it to warning', async () => {
    const result = await json<QuotaOverrideResult>(await override(a.tenantId, { api_calls_per_month: 1_000 }));
    expect(result).toMatchObject({
      tenant_id: a.tenantId,
      applied: true,
      overrides: { api_calls_per_month: 1_000 },
      limits: { api_calls_per_month: 1_000, users: 3 },
    });
    // The enforcement state already carries it: the tenant sees it at once.
    const after = quotaOf(await tenantQuotas(a.token), 'api_calls_per_month');
    expect(after).toMatchObject({ limit: 1_000, overridden: true });
    // The other tenant keeps its plan.
    expect(quotaOf(await tenantQuotas(b.token), 'api_calls_per_month')).toMatchObject({
      limit: 100_000,
      overridden: false,
    });

    await publishUsage(jetstream(stack.gateway!.deps.nc), [
      { tenantId: a.tenantId, value: 850, dedupKey: `q:${batch++}` },
    ]);
    const warned = await eventually(async () => {
      const q = quotaOf(await tenantQuotas(a.token), 'api_calls_per_month');
      return q.state === 'warning' ? q : undefined;
    }, 10_000);
    // The tenant API calls themselves may be metered too: at least the 850 published.
    expect(warned.used).toBeGreaterThanOrEqual(850);
    expect(warned.remaining).toBe(1_000 - warned.used);

    const audit = await json<{ items: { action: string; outcome: string; detail: string; actor: { id: string } }[] }>(
      await admin(`/api/admin/audit?tenant=${a.tenantId}&action=quota-overridden`),
    );
    expect(audit.items[0]).toMatchObject({
      outcome: 'success',
      detail: 'api_calls_per_month=1000',
      actor: { id: 'ops@quota.test' },
    });
  }, 30_000);

  it('null restores the plan limit, and the admin reads the same report', async () => {
    const result = await json<QuotaOverrideResult>(
      await override(a.tenantId, { api_calls_per_month: null, users: 10 }),
    );
    expect(result).toMatchObject({
      applied: true,
      overrides: { users: 10 },
      limits: { api_calls_per_month: 100_000, users: 10 },
    });
    const report = await json<QuotaReport>(await admin(`/api/admin/tenants/${a.tenantId}/quotas`));
    expect(quotaOf(report, 'api_calls_per_month')).toMatchObject({ limit: 100_000, overridden: false, state: 'ok' });
    expect(quotaOf(report, 'users')).toMatchObject({ limit: 10, overridden: true });
  }, 30_000);

  it('refuses bad overrides (400) and unknown tenants (404)', async () => {
    expect((await problem(await override(a.tenantId, {}), 400)).type).toBe('https://ttm.dev/problems/validation');
    expect((await problem(await override(a.tenantId, { users: 0 }), 400)).type).toBe(
      'https://ttm.dev/problems/validation',
    );
    expect((await problem(await override(a.tenantId, { users: 'many' }), 400)).status).toBe(400);
    expect((await problem(await override(a.tenantId, { bogus: 1 }), 400)).code).toBe('TTM_EMPTY_QUOTA_OVERRIDE');
    expect((await problem(await override(randomUUID(), { users: 5 }), 404)).code).toBe('TTM_TENANT_NOT_FOUND');
    expect((await problem(await override('Not_A_Uuid', { users: 5 }), 400)).status).toBe(400);
    expect((await problem(await override('no-such-slug', { users: 5 }), 404)).code).toBe('TTM_TENANT_NOT_FOUND');
    const unauthenticated = await fetch(`${stack.url}/api/admin/tenants/${a.tenantId}/quotas`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ users: 5 }),
    });
    expect((await problem(unauthenticated, 401)).code).toBe('TTM_ADMIN_KEY_REQUIRED');
    expect((await problem(await tenant('nope', '/api/tenant/quotas'), 401)).status).toBe(401);
  });
});

describe('usage routes', () => {
  it('answers windows through metering; a tenant sees only its own', async () => {
    const ownHour = await eventually(async () => {
      const report = await json<UsageReport>(await tenant(a.token, '/api/tenant/usage?granularity=hour'));
      return report.windows.some((w) => w.meter === 'api_calls' && w.value >= 850) ? report : undefined;
    });
    expect(ownHour).toMatchObject({ tenant_id: a.tenantId, granularity: 'hour' });
    const calls = ownHour.windows.find((w) => w.meter === 'api_calls')!;
    expect(calls).toMatchObject({ kind: 'count', closed: false });
    expect(Date.parse(calls.window_end) - Date.parse(calls.window_start)).toBe(3_600_000);
    expect(ownHour.totals.find((t) => t.meter === 'api_calls')!.value).toBeGreaterThanOrEqual(850);

    // B's usage holds nothing of A's.
    const other = await json<UsageReport>(await tenant(b.token, '/api/tenant/usage?granularity=day'));
    expect(other.tenant_id).toBe(b.tenantId);
    expect(other.windows.filter((w) => w.meter === 'api_calls' && w.value >= 850)).toEqual([]);

    // The admin asks for any tenant, by month, one meter.
    const monthly = await json<UsageReport>(
      await admin(`/api/admin/tenants/${a.tenantId}/usage?granularity=month&meter=api_calls`),
    );
    expect(monthly.windows.every((w) => w.meter === 'api_calls')).toBe(true);
    expect(monthly.windows.at(-1)!.value).toBeGreaterThanOrEqual(850);
    expect(monthly.totals).toEqual([{ meter: 'api_calls', kind: 'count', value: monthly.windows.at(-1)!.value }]);
  }, 20_000);

  it('defaults and aligns the range; refuses bad ranges (400) and unknown tenants (404)', async () => {
    const to = '2026-03-10T12:30:00Z';
    const report = await json<UsageReport>(
      await admin(`/api/admin/tenants/${a.tenantId}/usage?granularity=day&from=2026-03-01T08:00:00Z&to=${to}`),
    );
    expect(report.from).toBe('2026-03-01T00:00:00.000Z');
    expect(report.to).toBe('2026-03-10T12:30:00.000Z');
    expect(report.windows).toEqual([]);

    const reversed = await admin(
      `/api/admin/tenants/${a.tenantId}/usage?from=2026-03-10T00:00:00Z&to=2026-03-01T00:00:00Z`,
    );
    expect((await problem(reversed, 400)).code).toBe('TTM_INVALID_USAGE_RANGE');
    const tooLong = await tenant(
      a.token,
      '/api/tenant/usage?granularity=hour&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z',
    );
    expect((await problem(tooLong, 400)).code).toBe('TTM_INVALID_USAGE_RANGE');
    expect((await problem(await tenant(a.token, '/api/tenant/usage?granularity=week'), 400)).type).toBe(
      'https://ttm.dev/problems/validation',
    );
    expect((await problem(await admin(`/api/admin/tenants/${randomUUID()}/usage`), 404)).code).toBe(
      'TTM_TENANT_NOT_FOUND',
    );
  });

  it('answers 503 when metering is down', async () => {
    await stack.stopMetering();
    try {
      const response = await admin(`/api/admin/tenants/${a.tenantId}/usage`);
      expect((await problem(response, 503)).code).toBe('TTM_USAGE_UNAVAILABLE');
    } finally {
      await stack.startMetering();
    }
  }, 20_000);

  it('is in the OpenAPI document', async () => {
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(
      await fetch(`${stack.url}/docs/openapi.json`),
    );
    expect(Object.keys(doc.paths['/api/admin/tenants/{id}/quotas']!)).toEqual(expect.arrayContaining(['put', 'get']));
    expect(doc.paths['/api/admin/tenants/{id}/usage']).toHaveProperty('get');
    expect(doc.paths['/api/tenant/usage']).toHaveProperty('get');
    expect(doc.paths['/api/tenant/quotas']).toHaveProperty('get');
  });
});

describe('metrics', () => {
  it('reports connections per pool, quota states and metering intake', async () => {
    const gateway = await stack.gateway!.deps.metrics.metrics();
    expect(metricValue(gateway, 'database_connections_total', { pool: 'control-plane' })).toBeGreaterThan(0);
    expect(metricValue(gateway, 'database_connections_max', { pool: 'control-plane' })).toBeGreaterThan(0);
    // Logging in opened the pool of the tenants' data-plane database.
    expect(gateway).toMatch(/database_connections_total\{pool="data-plane:us-east-1\/use1-a\/[^"]+"/);

    const quota = await stack.quota!.service.metrics.metrics();
    expect(metricValue(quota, 'database_connections_total', { pool: 'control-plane' })).toBeGreaterThan(0);
    expect(metricValue(quota, 'quota_meters', { meter: 'api_calls', state: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(quota).toMatch(/quota_state_changes_total\{meter="api_calls",state="warning"/);

    const metering = await stack.metering!.service.metrics.metrics();
    expect(metricValue(metering, 'database_connections_total', { pool: 'control-plane' })).toBeGreaterThanOrEqual(0);
    expect(metering).toMatch(/metering_usage_received_total\{[^}]*\} \d+/);
    // The tenant calls of this file are metered too: the backlog drains to 0.
    await eventually(async () =>
      metricValue(await stack.metering!.service.metrics.metrics(), 'metering_usage_backlog_messages', {}) === 0
        ? true
        : undefined,
    );
  });
});
