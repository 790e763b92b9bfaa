import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  Buckets,
  encodeMessage,
  OverrideQuotas,
  type QuotaLimitsEntry,
  type QuotaStateEntry,
  QuotaStateKeys,
  Subjects,
} from '@ttm/contracts';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startConnectedStack, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { publishUsage } from '../../../test/support/usage.js';

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;
let quotaState: KV;

const limits = (apiCalls: number): QuotaLimitsEntry => ({
  plan: 'free',
  quotas: { storage_bytes: 1_000_000, users: 3, api_calls_per_month: apiCalls },
  rateLimit: { requests: 100, windowMs: 60_000 },
});

beforeAll(async () => {
  ({ stack, nc, js } = await startConnectedStack({
    gateway: false,
    provisioner: false,
    metering: true,
    quota: true,
    env: { METERING_SAMPLE_INTERVAL: '1h', METERING_CLOSE_INTERVAL: '1h', QUOTA_WARNING_THRESHOLD: '80' },
  }));
  quotaState = await new Kvm(nc).open(Buckets.quotaState);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

async function state(tenantId: string): Promise<QuotaStateEntry | undefined> {
  const entry = await quotaState.get(QuotaStateKeys.state(tenantId));
  return entry?.operation === 'PUT' ? entry.json<QuotaStateEntry>() : undefined;
}

/** Wait for the state to satisfy `check`; resolves with the milliseconds it took. */
async function until(tenantId: string, check: (s: QuotaStateEntry) => boolean, timeoutMs = 5_000): Promise<number> {
  const started = performance.now();
  await eventually(async () => {
    const s = await state(tenantId);
    return s && check(s) ? true : undefined;
  }, timeoutMs);
  return performance.now() - started;
}

async function quotaEventTypes(tenantId: string): Promise<string[]> {
  const { events } = await readAggregate(js, Subjects.quotaEvents(tenantId));
  return events.map((e) => e.type.replace(/^ttm\.quota\.(.*)\.v1$/, '$1'));
}

let batch = 0;
const calls = (tenantId: string, value: number) =>
  publishUsage(js, [{ tenantId, value, dedupKey: `gw-test:${batch++}` }]);

describe('quota enforcement', () => {
  it('exceeded -> state exceeded -> override raised -> ok again, each within 2 s, notices once', async () => {
    const tenant = randomUUID();
    await quotaState.put(QuotaStateKeys.limits(tenant), JSON.stringify(limits(100)));
    await until(tenant, (s) => s.api_calls.limit === 100 && s.api_calls.state === 'ok');

    await calls(tenant, 85);
    const toWarning = await until(tenant, (s) => s.api_calls.state === 'warning');
    expect(toWarning).toBeLessThan(2_000);

    await calls(tenant, 20);
    const toExceeded = await until(tenant, (s) => s.api_calls.state === 'exceeded');
    expect(toExceeded).toBeLessThan(2_000);
    expect(await state(tenant)).toMatchObject({ plan: 'free', api_calls: { limit: 100, used: 105 } });

    // More calls past the limit: still exceeded, no second notice.
    await calls(tenant, 30);
    await until(tenant, (s) => s.api_calls.used === 135, 3_000).catch(() => undefined);
    expect(await quotaEventTypes(tenant)).toEqual(['warning', 'exceeded']);

    const overrideSent = performance.now();
    await publishMessage(
      js,
      OverrideQuotas.subject,
      encodeMessage(
        OverrideQuotas,
        { tenantId: tenant, limits: { api_calls_per_month: 1_000 }, actor: { kind: 'admin', id: 'ops@test' } },
        { source: '/test/gateway' },
      ),
    );
    await until(tenant, (s) => s.api_calls.state === 'ok' && s.api_calls.limit === 1_000);
    expect(performance.now() - overrideSent).toBeLessThan(2_000);
    await eventually(async () => ((await quotaEventTypes(tenant)).length === 4 ? true : undefined));
    expect(await quotaEventTypes(tenant)).toEqual(['warning', 'exceeded', 'overridden', 'cleared']);
    const { events } = await readAggregate(js, Subjects.quotaEvents(tenant));
    expect(events.at(-1)?.data).toMatchObject({ meter: 'api_calls', reason: 'limit-raised', limit: 1_000 });
    expect(events[1]?.meta.id).toMatch(new RegExp(`^${tenant}/api_calls/\\d{4}-\\d\\d-01T00:00:00.000Z/1-exceeded$`));
  });

  it('null restores the plan limit; gauges (users) are enforced too', async () => {
    const tenant = randomUUID();
    await quotaState.put(QuotaStateKeys.limits(tenant), JSON.stringify(limits(100)));
    await publishUsage(js, [{ tenantId: tenant, meter: 'users', value: 3, dedupKey: 'sample:1' }]);
    await until(tenant, (s) => s.users.state === 'exceeded' && s.users.used === 3);

    const override = (users: number | null) =>
      publishMessage(
        js,
        OverrideQuotas.subject,
        encodeMessage(
          OverrideQuotas,
          { tenantId: tenant, limits: { users }, actor: { kind: 'admin', id: 'ops@test' } },
          { source: '/test/gateway' },
        ),
      );
    await override(10);
    await until(tenant, (s) => s.users.state === 'ok' && s.users.limit === 10);
    await override(null);
    await until(tenant, (s) => s.users.state === 'exceeded' && s.users.limit === 3);
  });

  it('a restarted quota service sends no notice twice and keeps the state', async () => {
    const tenant = randomUUID();
    await quotaState.put(QuotaStateKeys.limits(tenant), JSON.stringify(limits(10)));
    await calls(tenant, 12);
    await until(tenant, (s) => s.api_calls.state === 'exceeded');
    await eventually(async () => ((await quotaEventTypes(tenant)).length === 1 ? true : undefined));

    await stack.stopQuota();
    await stack.startQuota();
    await stack.quota!.evaluateAll();
    await calls(tenant, 1);
    await until(tenant, (s) => s.api_calls.used === 13);
    expect(await quotaEventTypes(tenant)).toEqual(['exceeded']);
    expect((await state(tenant))?.api_calls.state).toBe('exceeded');
  });

  it('drops the state when the plan limits go away (provisioning compensated)', async () => {
    const tenant = randomUUID();
    await quotaState.put(QuotaStateKeys.limits(tenant), JSON.stringify(limits(10)));
    await until(tenant, (s) => s.api_calls.state === 'ok');
    await quotaState.delete(QuotaStateKeys.limits(tenant));
    await eventually(async () => ((await state(tenant)) === undefined ? true : undefined));
  });
});
