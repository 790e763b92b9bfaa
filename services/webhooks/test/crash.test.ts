import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DeliveryView, EndpointWithSecret } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json } from '../../../test/support/http.js';
import { eventually, startConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { publishQuotaNotice, testWebhookEnv } from './support/events.js';
import { payloadOf, Receiver } from './support/receiver.js';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const WAIT = 60_000;

let stack: TestStack;
let nc: NatsConnection;
let receiver: Receiver;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ provisioner: false }));
}, 60_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await receiver?.down();
  await nc?.close();
  await stack?.stop();
});

/** The webhooks service as its own process (a lease of 2 x 1 s + 1 s after a kill). */
function startProcess(): ChildProcess {
  // node loading tsx, one process: a kill of the tsx binary would leave its child node running.
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: { ...process.env, ...stack.env, ...testWebhookEnv, WEBHOOK_TIMEOUT: '1s' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return child;
}

const admin = adminFetch(() => stack.url);

describe('a killed webhooks service', () => {
  it('loses no delivery and sends again only under the same webhook-id', async () => {
    let hung = false;
    receiver = await Receiver.start(() => {
      if (hung) return 204;
      hung = true;
      return 'hang';
    });
    const first = startProcess();
    const { endpoint } = await eventually(async () => {
      const response = await admin('/api/admin/webhooks', {
        method: 'POST',
        body: JSON.stringify({ url: receiver.url, eventTypes: ['quota.warning'] }),
      });
      return response.status === 201 ? ((await response.json()) as EndpointWithSecret) : undefined;
    }, WAIT);

    const tenantId = randomUUID();
    for (let i = 0; i < 4; i++) await publishQuotaNotice(jetstream(nc), tenantId, 'warning', randomUUID(), 80 + i);
    // Mid-delivery: the receiver holds the first request open; kill the sender now.
    await eventually(() => (receiver.hangingCount > 0 ? true : undefined), WAIT);
    const exited = new Promise((resolve) => first.once('exit', (_code, signal) => resolve(signal)));
    first.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    startProcess();
    const log = await eventually(async () => {
      const response = await admin(`/api/admin/webhooks/${endpoint.id}/deliveries`);
      if (response.status !== 200) return undefined;
      const { deliveries } = (await response.json()) as { deliveries: DeliveryView[] };
      return deliveries.length === 4 && deliveries.every((d) => d.status === 'succeeded') ? deliveries : undefined;
    }, WAIT);

    // Every event arrived; the one cut off arrived again under its webhook-id; no event under two ids.
    const idsByEvent = new Map<string, Set<string>>();
    for (const got of receiver.requests) {
      const key = JSON.stringify(payloadOf(got).data);
      idsByEvent.set(key, (idsByEvent.get(key) ?? new Set()).add(got.id));
    }
    expect(idsByEvent.size).toBe(4);
    for (const ids of idsByEvent.values()) expect(ids.size).toBe(1);
    expect(new Set(receiver.accepted.map((r) => r.id))).toEqual(new Set(log.map((d) => d.id)));
    expect(receiver.accepted.map((r) => r.id)).toContain(receiver.requests[0]!.id);
    await json(await admin(`/api/admin/webhooks/${endpoint.id}`));
  }, 180_000);
});
