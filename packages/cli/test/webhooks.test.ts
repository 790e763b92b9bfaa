import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startWebhooks, type Webhooks } from '@ttm/webhooks';
import { publishQuotaNotice, Receiver, testWebhookEnv } from '@ttm/webhooks/testing';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';
import { runCli } from './support/runCli.js';

// Against the real gateway and webhooks service.
let stack: TestStack;
let webhooks: Webhooks;
let nc: NatsConnection;
let receiver: Receiver;
const cli = (...args: string[]) => runCli(args, { TTM_URL: stack.url, TTM_ADMIN_KEY: TEST_ADMIN_KEY });

beforeAll(async () => {
  stack = await startStack({ provisioner: false });
  webhooks = await startWebhooks({ ...stack.env, ...testWebhookEnv }, { handleSignals: false });
  nc = await connect({ servers: stack.nats.url });
  receiver = await Receiver.start();
}, 60_000);

afterAll(async () => {
  await receiver?.down();
  await nc?.close();
  await webhooks?.stop();
  await stack?.stop();
});

describe('tenant-cli webhooks', () => {
  it('adds, lists, shows deliveries, redelivers, rotates and removes', async () => {
    const tenantId = randomUUID();
    const added = await cli(
      'webhooks',
      'add',
      receiver.url,
      '--events',
      'quota.warning',
      '--tenant',
      tenantId,
      '--json',
    );
    expect(added.code, added.stderr).toBe(0);
    const { endpoint, secret } = JSON.parse(added.stdout) as { endpoint: { id: string }; secret: string };
    expect(secret).toMatch(/^whsec_/);

    const listed = await cli('webhooks', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(endpoint.id);
    expect(listed.stdout).not.toContain(secret);

    await publishQuotaNotice(jetstream(nc), tenantId, 'warning');
    const got = await eventually(() => receiver.accepted[0], 30_000);
    new Webhook(secret).verify(got.body, {
      'webhook-id': got.id,
      'webhook-timestamp': got.timestamp,
      'webhook-signature': got.signature,
    });
    const log = await eventually(async () => {
      const result = await cli('webhooks', 'deliveries', endpoint.id);
      return /succeeded/.test(result.stdout) ? result : undefined;
    }, 30_000);
    expect(log.stdout.split('\n')[0]?.split(/\s+/)).toEqual([
      'WEBHOOK-ID',
      'EVENT',
      'STATUS',
      'ATTEMPTS',
      'LAST',
      'NEXT',
      'ERROR',
    ]);
    expect(log.stdout).toContain(got.id);

    const again = await cli('webhooks', 'redeliver', endpoint.id, got.id);
    expect(again.code, again.stderr).toBe(0);
    expect((await eventually(() => receiver.accepted[1], 30_000)).id).toBe(got.id);

    const rotated = await cli('webhooks', 'rotate-secret', endpoint.id, '--overlap', '0');
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout.trim().split('\n').at(-1)).toMatch(/^whsec_/);
    expect(rotated.stderr).toMatch(/shown once/);

    const removed = await cli('webhooks', 'remove', endpoint.id);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await cli('webhooks', 'list', '--json')).stdout).not.toContain(endpoint.id);
  }, 120_000);

  it('says in one line why a URL is refused', async () => {
    const refused = await cli('webhooks', 'add', 'https://224.0.0.1/hook', '--events', 'quota.warning');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^tenant-cli: Webhook URL rejected: .*multicast/);
  });
});
