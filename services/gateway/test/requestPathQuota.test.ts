import { Kvm } from '@nats-io/kv';
import { Buckets, encodeMessage, OverrideQuotas, QuotaStateEntry, QuotaStateKeys } from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import type { FastifyPluginAsync } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../../../test/support/http.js';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import type { GatewayDeps } from '../src/deps.js';
import { requestPathProblemTypes } from '../src/plugins/requestPath/index.js';

/**
 * End to end: the gateway's api_calls usage → metering's totals → quota's enforcement state →
 * the gateway refusing, then an operator override clearing it.
 */

const PASSWORD = 'correct-Horse-battery-9';
const PLANS = [
  {
    name: 'pro',
    quotas: { storage_bytes: 20_000_000_000, users: 50, api_calls_per_month: 5_000_000 },
    rateLimit: { requests: 100_000, windowMs: 60_000 },
  },
];

const testRoutes: FastifyPluginAsync<GatewayDeps> = async (app) => {
  app.get('/api/tenant/test/read', async () => ({ ok: true }));
};

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({
    metering: true,
    quota: true,
    env: { PLANS: JSON.stringify(PLANS), USAGE_FLUSH_INTERVAL: '200ms' },
    gatewayOptions: { extraTenantRoutes: testRoutes },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function newTenant(): Promise<{ tenantId: string; token: string }> {
  const { entry, token } = await signUp(stack.gateway!, {
    name: 'Quota Path',
    email: 'owner@quota-path.test',
    password: PASSWORD,
    plan: 'pro',
  });
  return { tenantId: entry.tenantId, token };
}

async function override(tenantId: string, apiCalls: number | null) {
  const message = encodeMessage(
    OverrideQuotas,
    { tenantId, limits: { api_calls_per_month: apiCalls }, actor: { kind: 'admin', id: 'request-path-test' } },
    { source: '/ttm/test' },
  );
  await publishMessage(stack.gateway!.deps.js, OverrideQuotas.subject, message);
}

describe('api_calls quota, end to end with metering and quota', () => {
  it('refuses calls past the quota, then serves again after an override', async () => {
    const tenant = await newTenant();
    const kv = await new Kvm(stack.gateway!.deps.nc).open(Buckets.quotaState);
    const stateOf = async () => {
      const entry = await kv.get(QuotaStateKeys.state(tenant.tenantId));
      return entry?.operation === 'PUT' ? QuotaStateEntry.parse(entry.json()) : undefined;
    };
    const read = () =>
      stack.gateway!.app.inject({
        method: 'GET',
        url: '/api/tenant/test/read',
        headers: { authorization: `Bearer ${tenant.token}` },
      });

    const LIMIT = 5;
    await override(tenant.tenantId, LIMIT);
    await eventually(async () => ((await stateOf())?.api_calls.limit === LIMIT ? true : undefined), 15_000);

    let allowed = 0;
    const refused = await eventually(async () => {
      const response = await read();
      if (response.statusCode === 200) {
        allowed++;
        return undefined;
      }
      return response;
    }, 20_000);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({
      type: requestPathProblemTypes.apiCallQuotaExceeded,
      meter: 'api_calls',
      limit: LIMIT,
    });
    // Never refused before the limit. Past it: this instance counts its own calls since the last
    // state, so only calls in flight before the state reached it pass (5 or 6 here).
    expect(allowed).toBeGreaterThanOrEqual(LIMIT);

    // The count travelled: metering counted the calls and quota marked the meter exceeded.
    await eventually(async () => ((await stateOf())?.api_calls.state === 'exceeded' ? true : undefined), 15_000);
    expect((await read()).statusCode).toBe(429);

    // A blocked tenant can still see why: its quotas and usage are served.
    const headers = { authorization: `Bearer ${tenant.token}` };
    for (const url of ['/api/tenant/quotas', '/api/tenant/usage?granularity=month']) {
      const answer = await stack.gateway!.app.inject({ method: 'GET', url, headers });
      expect(answer.statusCode, `${url}: ${answer.body}`).toBe(200);
      if (url === '/api/tenant/quotas') expect(answer.body).toContain('exceeded');
    }

    // The operator raises the limit: quota writes the state back to ok and calls are served.
    await override(tenant.tenantId, 1_000);
    await eventually(async () => ((await read()).statusCode === 200 ? true : undefined), 15_000);
    expect((await stateOf())?.api_calls).toMatchObject({ limit: 1_000, state: 'ok' });
  }, 90_000);
});
