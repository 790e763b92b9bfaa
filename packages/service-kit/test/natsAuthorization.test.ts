import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Buckets, Subjects } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapTopology, topologySettingsFrom } from '../src/bootstrap.js';
import { commonEnv, loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { connectNats } from '../src/nats.js';
import { NATS_SERVICE_USERS, natsAuthorizationConfig } from '../src/natsAuthorization.js';
import { PrivateNatsServer } from '../src/testing/index.js';

/** Issue 12 item 2: a private nats-server with the generated authorization, never the shared one. */
const passwords = Object.fromEntries(
  ['admin', ...NATS_SERVICE_USERS].map((u) => [u, `pw-${u}-${Math.random().toString(36).slice(2)}`]),
) as Parameters<typeof natsAuthorizationConfig>[0];
const logger = createLogger('nats-auth-test', 'silent');
let server: PrivateNatsServer;
const open: NatsConnection[] = [];

async function as(user: keyof typeof passwords): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, user, pass: passwords[user], maxReconnectAttempts: 0 });
  open.push(nc);
  return nc;
}

beforeAll(async () => {
  server = await PrivateNatsServer.start({ config: natsAuthorizationConfig(passwords) });
  // Bootstrap as admin, through the services' own connection code.
  const link = await connectNats(server.url, 'ttm-test-bootstrap', logger, {
    security: { user: 'admin', pass: passwords.admin },
  });
  await bootstrapTopology(link.nc, topologySettingsFrom(loadConfig(commonEnv, {})), logger);
  await link.nc.close();
}, 60_000);

afterAll(async () => {
  for (const nc of open) await nc.close().catch(() => undefined);
  await server?.stop();
});

/** The permission error the server sends for `work`, if any (they arrive asynchronously). */
async function refusal(nc: NatsConnection, work: () => Promise<unknown>): Promise<string | undefined> {
  const errors: string[] = [];
  const watching = (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error') errors.push(String(status.error));
    }
  })();
  let thrown: string | undefined;
  try {
    await work();
  } catch (error) {
    thrown = String(error);
  }
  await nc.flush();
  void watching;
  return thrown ?? errors.find((e) => /permission/i.test(e));
}

describe('NATS locked down', () => {
  it('refuses a connection without a user, or with a wrong password', async () => {
    await expect(connect({ servers: server.url, maxReconnectAttempts: 0 })).rejects.toThrow(/authorization/i);
    await expect(
      connect({ servers: server.url, user: 'gateway', pass: 'wrong', maxReconnectAttempts: 0 }),
    ).rejects.toThrow(/authorization/i);
  });

  it('the gateway user cannot write quota state or write freezes, but quota and backup can', async () => {
    const gateway = await as('gateway');
    const quotaState = await new Kvm(gateway).open(Buckets.quotaState);
    expect(await refusal(gateway, () => quotaState.put('t.api_calls', '{"blocked":false}'))).toMatch(/permission/i);
    const freezes = await new Kvm(gateway).open(Buckets.writeFreeze);
    expect(await refusal(gateway, () => freezes.put('t', '{}'))).toMatch(/permission/i);

    const quota = await as('quota');
    expect(await (await new Kvm(quota).open(Buckets.quotaState)).put('t.api_calls', '{}')).toBeGreaterThan(0);
    const backup = await as('backup');
    expect(await (await new Kvm(backup).open(Buckets.writeFreeze)).put('t', '{}')).toBeGreaterThan(0);
    // The gateway still reads them.
    expect((await quotaState.get('t.api_calls'))?.string()).toBe('{}');
  });

  it('the gateway user cannot read COMMANDS raw, nor delete or purge a stream; it can send a command', async () => {
    const gateway = await as('gateway');
    const sub = gateway.subscribe('cmd.>');
    expect(String(await sub.closed)).toMatch(/permission/i);
    const jsm = await jetstreamManager(gateway);
    expect(await refusal(gateway, () => jsm.consumers.add('COMMANDS', { ack_policy: 'explicit' } as never))).toMatch(
      /permission/i,
    );
    expect(await refusal(gateway, () => jsm.streams.purge('EVENTS'))).toMatch(/permission/i);
    expect(await refusal(gateway, () => jsm.streams.delete('AUDIT'))).toMatch(/permission/i);
    const ack = await jetstream(gateway).publish(Subjects.command('tenant', 'register'), '{}');
    expect(ack.stream).toBe('COMMANDS');
  });
});
