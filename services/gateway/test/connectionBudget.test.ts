import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../../../test/support/http.js';
import { metricValue } from '../../../test/support/metrics.js';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';
import { problemTypes } from '../src/problems.js';

const PASSWORD = 'correct-Horse-battery-9';
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      // One data-plane connection for the gateway, waited for 300 ms; the provisioner gets 1 % of
      // the budget (2 connections of the shared server's 400 * 50 %) for a burst of dedicated databases.
      DATA_PLANE_CONNECTIONS_MAX: '1',
      DATA_PLANE_ACQUIRE_TIMEOUT: '300ms',
      DATA_PLANE_BUDGET_SHARES: 'gateway=40,provisioner=1,backup=20,metering=10',
      WORKSPACE_WARM_POOL: '0',
    },
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

describe('connections under the budget', () => {
  it('a burst of enterprise registrations: every answer 202, every tenant active, none failed', async () => {
    const gateway = stack.gateway!;
    const burst = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        gateway.app.inject({
          method: 'POST',
          url: '/api/auth/register-organization',
          payload: {
            organization_name: `Burst ${i}`,
            admin_email: `admin${i}@burst.test`,
            admin_password: PASSWORD,
            plan: 'enterprise',
          },
        }),
      ),
    );
    expect(burst.map((r) => r.statusCode)).toEqual(Array(10).fill(202));
    const ids = burst.map((r) => r.json<{ provisioning_id: string }>().provisioning_id);
    const statuses = await eventually(() => {
      const now = ids.map((id) => gateway.deps.directory.byProvisioningId(id)?.status);
      return now.every((s) => s === 'active' || s === 'failed') ? now : undefined;
    }, 240_000);
    const reasons = ids.map((id) => gateway.deps.directory.byProvisioningId(id)?.error).filter(Boolean);
    expect(statuses, reasons.join('\n')).toEqual(Array(10).fill('active'));
    for (const id of ids) expect(gateway.deps.directory.byProvisioningId(id)?.placement?.kind).toBe('database');
  }, 300_000);

  it('a request while the budget is exhausted gets 503 problem+json with Retry-After; its retry is applied once', async () => {
    const gateway = stack.gateway!;
    const { entry, token } = await signUp(gateway, {
      name: 'Busy Corp',
      email: 'admin@busy.test',
      password: PASSWORD,
      plan: 'pro',
    });
    const create = () =>
      gateway.app.inject({
        method: 'POST',
        url: '/api/tenant/objects/company',
        headers: { authorization: `Bearer ${token}`, 'idempotency-key': 'busy-company-1' },
        payload: { name: 'Only Once' },
      });
    // Take the gateway's one data-plane connection.
    const held = await gateway.deps.clusterPools.poolFor(entry.placement!).connect();
    let refused: Awaited<ReturnType<typeof create>>;
    try {
      refused = await create();
    } finally {
      held.release();
    }
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ type: problemTypes.databaseBusy, status: 503 });

    const created = await create();
    expect(created.statusCode, created.body).toBe(201);
    const again = await create();
    expect(again.json()).toEqual(created.json());
    const list = await gateway.app.inject({
      method: 'GET',
      url: '/api/tenant/objects/company?name=Only%20Once',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ items: unknown[] }>().items).toHaveLength(1);

    // The refusal is on /metrics: the budget (1 here), the sessions held, the timeout counted.
    const scrape = await gateway.app.inject({ method: 'GET', url: '/metrics' });
    expect(scrape.statusCode).toBe(200);
    const server = new URL(stack.clusterUrls['us-east-1']).host;
    const labels = { pools: 'data-plane', server: server.includes(':') ? server : `${server}:5432` };
    expect(metricValue(scrape.body, 'ttm_data_plane_connection_budget', labels)).toBe(1);
    expect(metricValue(scrape.body, 'ttm_data_plane_connections_held', labels)).toBeGreaterThanOrEqual(0);
    expect(metricValue(scrape.body, 'ttm_data_plane_connections_checked_out', labels)).toBe(0);
    expect(metricValue(scrape.body, 'ttm_data_plane_budget_waiters', labels)).toBe(0);
    expect(metricValue(scrape.body, 'ttm_data_plane_acquire_timeouts_total', labels)).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('every service with data-plane pools shows its budget as ttm_data_plane_* gauges', async () => {
    // The provisioner used the server for the registrations above (2 = 1 % of 50 % of 400).
    const provisioner = await stack.provisioner!.service.metrics.metrics();
    for (const name of [
      'ttm_data_plane_connection_budget',
      'ttm_data_plane_connections_held',
      'ttm_data_plane_connections_checked_out',
      'ttm_data_plane_budget_waiters',
      'ttm_data_plane_acquire_timeouts_total',
    ]) {
      expect(metricValue(provisioner, name, { pools: 'data-plane' }), name).toBeGreaterThanOrEqual(0);
    }
    expect(metricValue(provisioner, 'ttm_data_plane_connection_budget', { pools: 'data-plane' })).toBeGreaterThan(0);
  }, 60_000);

  it('retry: 409 for a tenant that did not fail, 404 for none, through the admin API', async () => {
    const gateway = stack.gateway!;
    const { entry } = await signUp(gateway, {
      name: 'Fine Corp',
      email: 'admin@fine.test',
      password: PASSWORD,
      plan: 'pro',
    });
    const retry = (id: string) =>
      gateway.app.inject({
        method: 'POST',
        url: `/api/admin/tenants/${id}/retry`,
        headers: { 'x-admin-key': TEST_ADMIN_KEY },
      });
    const active = await retry(entry.tenantId);
    expect(active.statusCode, active.body).toBe(409);
    expect(active.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await retry('00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
  }, 120_000);
});
