import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { DeliveryView, EndpointView, EndpointWithSecret } from '@ttm/contracts';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json, problem, signUp } from '../../../test/support/http.js';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';
import { startWebhooks, type Webhooks } from '../src/webhooks.js';
import { publishQuotaNotice, testWebhookEnv } from './support/events.js';
import { payloadOf, type Received, Receiver } from './support/receiver.js';

const PASSWORD = 'correct-Horse-battery-9';
const WAIT = 30_000;

let stack: TestStack;
let webhooks: Webhooks;
let nc: NatsConnection;
let a: { tenantId: string; token: string };
let b: { tenantId: string; token: string };
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack({ env: { ...testWebhookEnv, WEBHOOK_DISABLE_MIN_FAILURES: '100000' } });
  webhooks = await startWebhooks(stack.env, { handleSignals: false });
  nc = await connect({ servers: stack.nats.url });
  [a, b] = await Promise.all([signedUpTenant('Hooks A'), signedUpTenant('Hooks B')]);
}, 120_000);

afterAll(async () => {
  for (const receiver of receivers) await receiver.down();
  await nc?.close();
  await webhooks?.stop();
  await stack?.stop();
});

async function signedUpTenant(name: string): Promise<{ tenantId: string; token: string }> {
  const email = `admin-${randomUUID().slice(0, 8)}@hooks.test`;
  const { entry, token } = await signUp(stack.gateway!, { name, email, password: PASSWORD, plan: 'free' });
  return { tenantId: entry.tenantId, token };
}

async function receiver(behaviour?: ConstructorParameters<typeof Receiver>[0]): Promise<Receiver> {
  const started = await Receiver.start(behaviour);
  receivers.push(started);
  return started;
}

const admin = adminFetch(() => stack.url);
const asTenant =
  (token: string) =>
  (path: string, init: RequestInit = {}) =>
    fetch(`${stack.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
    });

async function register(
  call: (path: string, init?: RequestInit) => Promise<Response>,
  base: string,
  body: Record<string, unknown>,
): Promise<EndpointWithSecret> {
  return json<EndpointWithSecret>(await call(base, { method: 'POST', body: JSON.stringify(body) }), 201);
}

const deliveriesOf = async (endpointId: string) =>
  (await json<{ deliveries: DeliveryView[] }>(await admin(`/api/admin/webhooks/${endpointId}/deliveries`))).deliveries;

function verify(secret: string, received: Received): unknown {
  return new Webhook(secret).verify(received.body, {
    'webhook-id': received.id,
    'webhook-timestamp': received.timestamp,
    'webhook-signature': received.signature,
  });
}

describe('webhook delivery', () => {
  it('delivers a tenant event signed as Standard Webhooks says, verifiable with the reference library', async () => {
    const hook = await receiver();
    const { endpoint, secret } = await register(admin, '/api/admin/webhooks', {
      url: hook.url,
      eventTypes: ['tenant.suspended', 'tenant.activated'],
      tenantId: a.tenantId,
    });
    expect(secret).toMatch(/^whsec_/);
    expect(endpoint).toMatchObject({ owner: 'operator', tenantId: a.tenantId, status: 'enabled' });
    // The secret is shown once: never in a later read.
    const shown = await json<EndpointView>(await admin(`/api/admin/webhooks/${endpoint.id}`));
    expect(JSON.stringify(shown)).not.toContain(secret);
    // The registration is in the audit log.
    await eventually(async () => {
      const page = await json<{ items: { action: string; target: string | null }[] }>(
        await admin('/api/admin/audit?action=webhook-endpoint-created'),
      );
      return page.items.some((item) => item.target === endpoint.id) ? true : undefined;
    }, WAIT);

    const suspended = await admin(`/api/admin/tenants/${a.tenantId}/suspend`, {
      method: 'POST',
      body: JSON.stringify({ reason: 'webhook test' }),
    });
    expect(suspended.status, await suspended.text()).toBeLessThan(300);
    const got = await eventually(() => hook.accepted[0], WAIT);
    expect(got.id).toMatch(/^msg_/);
    expect(verify(secret, got)).toMatchObject({ type: 'tenant.suspended', data: { tenantId: a.tenantId } });
    const log = await eventually(async () => {
      const found = await deliveriesOf(endpoint.id);
      return found[0]?.status === 'succeeded' ? found : undefined;
    }, WAIT);
    expect(log[0]).toMatchObject({ id: got.id, eventType: 'tenant.suspended', attempts: 1, lastStatusCode: 204 });

    await admin(`/api/admin/tenants/${a.tenantId}/activate`, { method: 'POST', body: '{}' });
    await eventually(() => (hook.accepted.length >= 2 ? true : undefined), WAIT);
    expect(payloadOf(hook.accepted[1]!).type).toBe('tenant.activated');
  });

  it('loses nothing while a receiver is down and sends each event under one webhook-id', async () => {
    const hook = await receiver();
    const { endpoint } = await register(admin, '/api/admin/webhooks', { url: hook.url, eventTypes: ['quota.warning'] });
    await hook.down();
    const tenantId = randomUUID();
    const events = [];
    for (let i = 0; i < 5; i++) {
      events.push(await publishQuotaNotice(jetstream(nc), tenantId, 'warning', randomUUID(), 80 + i));
    }
    // Down long enough that every delivery failed at least twice.
    await eventually(async () => {
      const log = await deliveriesOf(endpoint.id);
      return log.length === 5 && log.every((d) => d.attempts >= 2 && d.status === 'pending') ? true : undefined;
    }, WAIT);
    await hook.up();
    await eventually(async () => {
      const log = await deliveriesOf(endpoint.id);
      return log.every((d) => d.status === 'succeeded') && log.length === 5 ? true : undefined;
    }, WAIT);

    const byId = new Map<string, string>();
    for (const got of hook.requests) {
      const eventKey = JSON.stringify(payloadOf(got).data);
      const known = byId.get(got.id);
      if (known !== undefined) expect(known).toBe(eventKey);
      byId.set(got.id, eventKey);
    }
    // Five events, five webhook-ids, each event under exactly one of them.
    expect(byId.size).toBe(5);
    expect(new Set(byId.values()).size).toBe(5);
    expect(new Set(hook.accepted.map((r) => r.id)).size).toBe(5);
  });

  it('times out a hanging receiver and retries it later, while other endpoints get their events', async () => {
    let hungOnce = false;
    const slow = await receiver(() => {
      if (hungOnce) return 204;
      hungOnce = true;
      return 'hang';
    });
    let slowHangingWhenFastGotIt: boolean | undefined;
    const fast = await receiver(() => {
      slowHangingWhenFastGotIt ??= slow.hangingCount > 0;
      return 204;
    });
    const tenantId = randomUUID();
    const { endpoint: slowEndpoint } = await register(admin, '/api/admin/webhooks', {
      url: slow.url,
      eventTypes: ['quota.warning'],
      tenantId,
    });
    await register(admin, '/api/admin/webhooks', { url: fast.url, eventTypes: ['quota.exceeded'], tenantId });

    await publishQuotaNotice(jetstream(nc), tenantId, 'warning');
    await eventually(() => (slow.hangingCount > 0 ? true : undefined), WAIT);
    await publishQuotaNotice(jetstream(nc), tenantId, 'exceeded');
    await eventually(() => fast.accepted[0], WAIT);
    expect(slowHangingWhenFastGotIt).toBe(true);

    const retried = await eventually(() => slow.accepted[0], WAIT);
    expect(retried.id).toBe(slow.requests[0]!.id);
    const [log] = await eventually(async () => {
      const found = await deliveriesOf(slowEndpoint.id);
      return found[0]?.status === 'succeeded' ? found : undefined;
    }, WAIT);
    expect(log).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(log!.lastError).toBeNull();
  });

  it('signs with both secrets during a rotation overlap, then with the new one only', async () => {
    const hook = await receiver();
    const tenantId = randomUUID();
    const { endpoint, secret: first } = await register(admin, '/api/admin/webhooks', {
      url: hook.url,
      eventTypes: ['quota.warning'],
      tenantId,
    });
    const rotated = await json<EndpointWithSecret>(
      await admin(`/api/admin/webhooks/${endpoint.id}/rotate-secret`, {
        method: 'POST',
        body: JSON.stringify({ overlapSeconds: 3600 }),
      }),
    );
    expect(rotated.secret).not.toBe(first);
    expect(rotated.endpoint.previousSecretExpiresAt).not.toBeNull();
    await publishQuotaNotice(jetstream(nc), tenantId, 'warning');
    const during = await eventually(() => hook.accepted[0], WAIT);
    expect(during.signature.split(' ')).toHaveLength(2);
    expect(verify(first, during)).toBeTruthy();
    expect(verify(rotated.secret, during)).toBeTruthy();

    const again = await json<EndpointWithSecret>(
      await admin(`/api/admin/webhooks/${endpoint.id}/rotate-secret`, {
        method: 'POST',
        body: JSON.stringify({ overlapSeconds: 0 }),
      }),
    );
    await publishQuotaNotice(jetstream(nc), tenantId, 'warning');
    const after = await eventually(() => hook.accepted[1], WAIT);
    expect(after.signature.split(' ')).toHaveLength(1);
    expect(verify(again.secret, after)).toBeTruthy();
    expect(() => verify(rotated.secret, after)).toThrow();
  });

  it('redelivers on request with the same webhook-id', async () => {
    const hook = await receiver();
    const tenantId = randomUUID();
    const { endpoint } = await register(admin, '/api/admin/webhooks', {
      url: hook.url,
      eventTypes: ['quota.exceeded'],
      tenantId,
    });
    await publishQuotaNotice(jetstream(nc), tenantId, 'exceeded');
    const first = await eventually(() => hook.accepted[0], WAIT);
    const [delivery] = await eventually(async () => {
      const log = await deliveriesOf(endpoint.id);
      return log[0]?.status === 'succeeded' ? log : undefined;
    }, WAIT);
    const redelivered = await admin(`/api/admin/webhooks/${endpoint.id}/deliveries/${delivery!.id}/redeliver`, {
      method: 'POST',
    });
    expect(redelivered.status).toBe(202);
    const second = await eventually(() => hook.accepted[1], WAIT);
    expect(second.id).toBe(first.id);
    expect(second.body).toBe(first.body);
  });
});

describe('tenant endpoints', () => {
  it('a tenant registers for its own events and sees neither another tenant’s endpoints nor their events', async () => {
    const hookA = await receiver();
    const hookB = await receiver();
    const tenantA = asTenant(a.token);
    const tenantB = asTenant(b.token);
    const { endpoint: endpointA } = await register(tenantA, '/api/tenant/webhooks', {
      url: hookA.url,
      eventTypes: ['quota.warning'],
    });
    expect(endpointA).toMatchObject({ owner: 'tenant', tenantId: a.tenantId });
    const { endpoint: endpointB } = await register(tenantB, '/api/tenant/webhooks', {
      url: hookB.url,
      eventTypes: ['quota.warning'],
    });

    // B cannot name A, nor subscribe to fleet events.
    const forA = await problem(
      await tenantB('/api/tenant/webhooks', {
        method: 'POST',
        body: JSON.stringify({ url: hookB.url, eventTypes: ['quota.warning'], tenantId: a.tenantId }),
      }),
      403,
    );
    expect(forA.code).toBe('TTM_WEBHOOK_TYPE_NOT_ALLOWED');
    await problem(
      await tenantB('/api/tenant/webhooks', {
        method: 'POST',
        body: JSON.stringify({ url: hookB.url, eventTypes: ['alert.firing'] }),
      }),
      403,
    );
    // B sees only its own endpoint; A's is not found for B, nor its log.
    const listB = await json<{ endpoints: EndpointView[] }>(await tenantB('/api/tenant/webhooks'));
    expect(listB.endpoints.map((e) => e.id)).toEqual([endpointB.id]);
    await problem(await tenantB(`/api/tenant/webhooks/${endpointA.id}`), 404);
    await problem(await tenantB(`/api/tenant/webhooks/${endpointA.id}/deliveries`), 404);
    await problem(await tenantB(`/api/tenant/webhooks/${endpointA.id}`, { method: 'DELETE' }), 404);

    await publishQuotaNotice(jetstream(nc), a.tenantId, 'warning');
    await publishQuotaNotice(jetstream(nc), b.tenantId, 'warning');
    await eventually(() => (hookA.accepted.length > 0 && hookB.accepted.length > 0 ? true : undefined), WAIT);
    // Everything before B's own event was delivered in order of the stream: A's came first.
    expect(hookB.requests.every((r) => payloadOf(r).data.tenantId === b.tenantId)).toBe(true);
    expect(hookA.requests.every((r) => payloadOf(r).data.tenantId === a.tenantId)).toBe(true);
    const logA = await json<{ deliveries: DeliveryView[] }>(
      await tenantA(`/api/tenant/webhooks/${endpointA.id}/deliveries`),
    );
    expect(logA.deliveries.every((d) => d.tenantId === a.tenantId)).toBe(true);
  });
});

describe('alerts from Alertmanager', () => {
  const alertBody = (status: 'firing' | 'resolved', fingerprint: string) => ({
    version: '4',
    groupKey: '{}:{alertname="ServiceDown"}',
    status,
    receiver: 'ttm-webhooks',
    groupLabels: { alertname: 'ServiceDown' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status,
        labels: { alertname: 'ServiceDown', service: 'quota', severity: 'critical' },
        annotations: { summary: 'quota is down' },
        startsAt: '2026-12-05T03:00:00.000Z',
        endsAt: status === 'resolved' ? '2026-12-05T03:10:00.000Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph',
        fingerprint,
      },
    ],
  });

  const postAlerts = (body: unknown, headers: Record<string, string>) =>
    fetch(`${stack.url}/api/admin/alertmanager/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('delivers each alert state once to operator endpoints, however often Alertmanager repeats it', async () => {
    const hook = await receiver();
    const { endpoint } = await register(admin, '/api/admin/webhooks', {
      url: hook.url,
      eventTypes: ['alert.firing', 'alert.resolved'],
    });
    const fingerprint = randomUUID().replace(/-/g, '').slice(0, 16);
    const bearer = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
    await problem(await postAlerts(alertBody('firing', fingerprint), {}), 401);
    await problem(await postAlerts({ version: '3', alerts: [] }, bearer), 400);
    expect((await postAlerts(alertBody('firing', fingerprint), bearer)).status).toBe(200);
    expect((await postAlerts(alertBody('firing', fingerprint), { 'x-admin-key': TEST_ADMIN_KEY })).status).toBe(200);
    expect((await postAlerts(alertBody('resolved', fingerprint), bearer)).status).toBe(200);

    await eventually(async () => {
      const log = await deliveriesOf(endpoint.id);
      return log.length === 2 && log.every((d) => d.status === 'succeeded') ? true : undefined;
    }, WAIT);
    expect(hook.accepted.map((r) => payloadOf(r).type)).toEqual(['alert.firing', 'alert.resolved']);
    expect(payloadOf(hook.accepted[0]!).data).toMatchObject({ fingerprint, alertname: 'ServiceDown' });
  });
});
