import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { EndpointView, EndpointWithSecret } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json } from '../../../test/support/http.js';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { startWebhooks, type Webhooks } from '../src/webhooks.js';
import { publishQuotaNotice, testWebhookEnv } from './support/events.js';
import { payloadOf, Receiver } from './support/receiver.js';

const WAIT = 30_000;
let stack: TestStack;
let webhooks: Webhooks;
let nc: NatsConnection;
const receivers: Receiver[] = [];

beforeAll(async () => {
  stack = await startStack({ provisioner: false });
  webhooks = await startWebhooks(
    { ...stack.env, ...testWebhookEnv, WEBHOOK_DISABLE_MIN_FAILURES: '3', WEBHOOK_DISABLE_AFTER: '0ms' },
    { handleSignals: false },
  );
  nc = await connect({ servers: stack.nats.url });
}, 60_000);

afterAll(async () => {
  for (const receiver of receivers) await receiver.down();
  await nc?.close();
  await webhooks?.stop();
  await stack?.stop();
});

const admin = adminFetch(() => stack.url);

async function register(body: Record<string, unknown>): Promise<EndpointWithSecret> {
  return json<EndpointWithSecret>(
    await admin('/api/admin/webhooks', { method: 'POST', body: JSON.stringify(body) }),
    201,
  );
}

describe('sustained failure', () => {
  it('disables the endpoint and tells operator endpoints, which can enable it again', async () => {
    const failing = await Receiver.start(() => 500);
    const watcher = await Receiver.start();
    receivers.push(failing, watcher);
    const { endpoint } = await register({ url: failing.url, eventTypes: ['quota.warning'] });
    await register({ url: watcher.url, eventTypes: ['webhook.endpoint-disabled'] });

    await publishQuotaNotice(jetstream(nc), randomUUID(), 'warning');
    const notice = await eventually(() => watcher.accepted[0], WAIT);
    expect(payloadOf(notice)).toMatchObject({
      type: 'webhook.endpoint-disabled',
      data: { endpointId: endpoint.id, url: failing.url, consecutiveFailures: 3 },
    });
    const disabled = await json<EndpointView>(await admin(`/api/admin/webhooks/${endpoint.id}`));
    expect(disabled).toMatchObject({ status: 'disabled', consecutiveFailures: 3 });
    expect(disabled.disabledReason).toMatch(/3 failed attempts in a row; last: the receiver answered 500/);
    expect(failing.requests).toHaveLength(3);
    // The watcher's delivery is recorded just after its answer: wait for the count to settle.
    const metrics = await eventually(async () => {
      const text = await webhooks.service.metrics.metrics();
      return /ttm_webhook_deliveries_pending\{what="count"[^}]*\} 1\n/.test(text) ? text : undefined;
    }, WAIT);
    expect(metrics).toMatch(/ttm_webhook_endpoints\{status="disabled"[^}]*\} 1/);
    expect(metrics).toMatch(/ttm_webhook_attempts_total\{outcome="failure"[^}]*\} 3/);

    // Enabled again, and the receiver fixed: the pending delivery goes out, same webhook-id.
    failing.behaviour = () => 204;
    const enabled = await json<EndpointView>(
      await admin(`/api/admin/webhooks/${endpoint.id}/enable`, { method: 'POST' }),
    );
    expect(enabled).toMatchObject({ status: 'enabled', consecutiveFailures: 0 });
    const delivered = await eventually(() => failing.accepted[0], WAIT);
    expect(delivered.id).toBe(failing.requests[0]!.id);
  });
});
