import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  Buckets,
  backupBucketOf,
  CommandSubjects,
  Consumers,
  CoreSubjects,
  consumerDefinitions,
  Streams,
  Subjects,
} from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapTopology, topologySettingsFrom } from '../src/bootstrap.js';
import { defaultRegions } from '../src/catalog.js';
import { readAggregate } from '../src/commandHandling/eventStore.js';
import { commonEnv, loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { openDurableConsumer } from '../src/messaging.js';
import { connectNats, natsSecurityOf } from '../src/nats.js';
import {
  composeNatsServerConfig,
  NATS_SERVICE_USERS,
  type NatsServiceUser,
  natsAuthorizationConfig,
  natsPasswordVariable,
} from '../src/natsAuthorization.js';
import { PrivateNatsServer } from '../src/testing/index.js';

/** Issue 12 item 2: a private nats-server with the generated authorization, never the shared one. */
type User = NatsServiceUser | 'admin';
const passwords = Object.fromEntries(
  ['admin', ...NATS_SERVICE_USERS].map((u) => [u, `pw-${u}-${Math.random().toString(36).slice(2)}`]),
) as Record<User, string>;
const REGION = 'us-east-1';
const logger = createLogger('nats-auth-test', 'silent');
let server: PrivateNatsServer;
const open: NatsConnection[] = [];

/** Connect as a service does (connectNats with its NATS_USER: inbox prefix `_INBOX_<user>`). */
async function as(user: User): Promise<NatsConnection> {
  const link = await connectNats(server.url, `ttm-test-${user}`, logger, {
    security: natsSecurityOf({ NATS_USER: user, NATS_PASSWORD: passwords[user] }),
  });
  open.push(link.nc);
  return link.nc;
}

beforeAll(async () => {
  server = await PrivateNatsServer.start({
    config: natsAuthorizationConfig(passwords, { objectStoreBuckets: [backupBucketOf(REGION)] }),
  });
  const admin = await as('admin');
  await bootstrapTopology(admin, topologySettingsFrom(loadConfig(commonEnv, {})), logger);
}, 60_000);

afterAll(async () => {
  for (const nc of open) await nc.close().catch(() => undefined);
  await server?.stop();
});

/** The permission error for `work`: thrown, or sent asynchronously by the server. */
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
  return errors.find((e) => /permission/i.test(e)) ?? thrown;
}

const PERMISSION = /permission/i;
const jsOptions = { timeout: 3_000 };

async function pullOne(nc: NatsConnection, durable: string): Promise<string | undefined> {
  const consumer = await jetstream(nc, jsOptions).consumers.get(Streams.COMMANDS, durable);
  const batch = await consumer.fetch({ max_messages: 1, expires: 2_000 });
  for await (const msg of batch) {
    msg.ack();
    return msg.subject;
  }
  return undefined;
}

describe('NATS locked down: who may connect', () => {
  it('refuses a connection without a user, or with a wrong password', async () => {
    await expect(connect({ servers: server.url, maxReconnectAttempts: 0 })).rejects.toThrow(/authorization/i);
    await expect(
      connect({ servers: server.url, user: 'gateway', pass: 'wrong', maxReconnectAttempts: 0 }),
    ).rejects.toThrow(/authorization/i);
  });
});

describe('NATS locked down: each service does its job', () => {
  it('the gateway sends a registration and only the provisioner pulls it from COMMANDS', async () => {
    const gateway = await as('gateway');
    const ack = await jetstream(gateway).publish(CommandSubjects.tenantRegister, '{}', { msgID: 'reg-1' });
    expect(ack.stream).toBe(Streams.COMMANDS);

    // Every other service is refused: the provisioner's durable, a consumer of its own, raw gets.
    for (const user of NATS_SERVICE_USERS.filter((u) => u !== 'provisioner')) {
      const nc = await as(user);
      expect(await refusal(nc, () => pullOne(nc, Consumers.provisionerCommands)), user).toMatch(PERMISSION);
      const jsm = await jetstreamManager(nc, { ...jsOptions, checkAPI: false });
      expect(
        await refusal(nc, () =>
          jsm.consumers.add(Streams.COMMANDS, {
            name: `peek-${user}`,
            filter_subject: CommandSubjects.tenantRegister,
            ack_policy: AckPolicy.None,
          }),
        ),
        user,
      ).toMatch(PERMISSION);
      expect(await refusal(nc, () => jsm.streams.getMessage(Streams.COMMANDS, { seq: ack.seq })), user).toMatch(
        PERMISSION,
      );
      const sub = nc.subscribe('_INBOX_provisioner.>');
      expect(String(await sub.closed), user).toMatch(PERMISSION);
      const cmd = nc.subscribe(CommandSubjects.tenantRegister);
      expect(String(await cmd.closed), user).toMatch(PERMISSION);
    }

    const provisioner = await as('provisioner');
    expect(await pullOne(provisioner, Consumers.provisionerCommands)).toBe(CommandSubjects.tenantRegister);
  });

  it('every service opens and pulls each durable consumer it owns', async () => {
    for (const user of NATS_SERVICE_USERS) {
      const nc = await as(user);
      const js = jetstream(nc, jsOptions);
      for (const def of consumerDefinitions.filter((d) => d.owner === user)) {
        const consumer = await openDurableConsumer(js, def, logger, new AbortController().signal);
        const batch = await consumer!.fetch({ max_messages: 1, expires: 1_000 });
        for await (const msg of batch) msg.ack();
        expect((await consumer!.info(true)).name, `${user} ${def.durable}`).toBe(def.durable);
      }
    }
  });

  it('a service cannot pull or delete a durable consumer it does not own', async () => {
    const metering = await as('metering');
    const jsm = await jetstreamManager(metering, { ...jsOptions, checkAPI: false });
    expect(await refusal(metering, () => jsm.consumers.delete(Streams.EVENTS, Consumers.gatewayTenants))).toMatch(
      PERMISSION,
    );
  });

  it('producers append their events, every service reads an aggregate', async () => {
    const provisioner = await as('provisioner');
    await jetstream(provisioner).publish(Subjects.tenantEvents('t1'), '{}');
    const quota = await as('quota');
    await jetstream(quota).publish(Subjects.quotaEvents('t1'), '{}');
    // The gateway may not write a tenant's events.
    const gateway = await as('gateway');
    expect(
      await refusal(gateway, () => jetstream(gateway, jsOptions).publish(Subjects.tenantEvents('t1'), '{}')),
    ).toMatch(PERMISSION);
    for (const user of NATS_SERVICE_USERS) {
      const nc = await as(user);
      // The stored bodies are not CloudEvents: decoding fails after the read went through.
      const error = await readAggregate(jetstream(nc, jsOptions), Subjects.tenantEvents('t1')).catch(String);
      expect(String(error), user).not.toMatch(/permission|timeout/i);
    }
  });

  it('commands: the gateway sends them all (admin routes), the backup service its own; metering none', async () => {
    const gateway = await as('gateway');
    // POST /api/admin/tenants/{id}/restore publishes cmd.backup.restore: the gateway must be able to.
    expect((await jetstream(gateway).publish(CommandSubjects.backupRestore, '{}')).stream).toBe(Streams.COMMANDS);
    const backup = await as('backup');
    expect((await jetstream(backup).publish(CommandSubjects.backupCreate, '{}')).stream).toBe(Streams.COMMANDS);
    expect((await jetstream(backup).publish(CommandSubjects.tenantChangePlacement, '{}')).stream).toBe(
      Streams.COMMANDS,
    );
    for (const user of ['metering', 'quota', 'webhooks', 'provisioner'] as const) {
      const nc = await as(user);
      expect(
        await refusal(nc, () => jetstream(nc, jsOptions).publish(CommandSubjects.backupRestore, '{}')),
        user,
      ).toMatch(PERMISSION);
    }
    expect(
      await refusal(backup, () => jetstream(backup, jsOptions).publish(CommandSubjects.tenantRegister, '{}')),
    ).toMatch(PERMISSION);
  });

  it('KV: only the writers write; the gateway reads and watches freezes and quota state', async () => {
    const gateway = await as('gateway');
    const freezes = await new Kvm(gateway).open(Buckets.writeFreeze);
    expect(await refusal(gateway, () => freezes.put('t', '{}'))).toMatch(PERMISSION);
    const quotaState = await new Kvm(gateway).open(Buckets.quotaState);
    expect(await refusal(gateway, () => quotaState.put('t.api_calls', '{"blocked":false}'))).toMatch(PERMISSION);
    const provisioner = await as('provisioner');
    expect(
      await refusal(provisioner, async () => (await new Kvm(provisioner).open(Buckets.writeFreeze)).put('t', '{}')),
    ).toMatch(PERMISSION);

    const watch = await freezes.watch();
    const backup = await as('backup');
    await (await new Kvm(backup).open(Buckets.writeFreeze)).put('t', '{"reason":"restore"}');
    for await (const entry of watch) {
      if (entry.key === 't') break;
    }
    watch.stop();
    expect((await freezes.get('t'))?.string()).toBe('{"reason":"restore"}');

    await (await new Kvm(await as('quota')).open(Buckets.quotaState)).put('t.api_calls', '{}');
    await (await new Kvm(provisioner).open(Buckets.quotaState)).put('t.limits', '{}');
    expect((await quotaState.get('t.api_calls'))?.string()).toBe('{}');
    await (await new Kvm(provisioner).open(Buckets.slugs)).create('acme', 't');
    const metering = await as('metering');
    await (await new Kvm(metering).open(Buckets.usageTotals)).put('t.api_calls', '1');
    expect((await (await new Kvm(await as('quota')).open(Buckets.usageTotals)).get('t.api_calls'))?.string()).toBe('1');
  });

  it('core queries: metering and webhooks answer the gateway, nobody else answers for them', async () => {
    const metering = await as('metering');
    metering.subscribe(CoreSubjects.usageWindowsQuery, {
      queue: 'metering',
      callback: (_e, m) => void m.respond('windows'),
    });
    const webhooks = await as('webhooks');
    webhooks.subscribe(CoreSubjects.webhookEndpoints, {
      queue: 'webhooks',
      callback: (_e, m) => void m.respond('endpoints'),
    });
    await metering.flush();
    await webhooks.flush();
    const gateway = await as('gateway');
    expect((await gateway.request(CoreSubjects.usageWindowsQuery, '{}', { timeout: 5_000 })).string()).toBe('windows');
    expect((await gateway.request(CoreSubjects.webhookEndpoints, '{}', { timeout: 5_000 })).string()).toBe('endpoints');
    const quota = await as('quota');
    const impostor = quota.subscribe(CoreSubjects.usageWindowsQuery);
    expect(String(await impostor.closed)).toMatch(PERMISSION);
  });

  it('the backup service keeps artifacts in its region object store', async () => {
    const backup = await as('backup');
    const store = await new Objm(backup).create(backupBucketOf(REGION));
    await store.putBlob({ name: 'b1' }, new TextEncoder().encode('artifact'));
    expect(new TextDecoder().decode((await store.getBlob('b1')) ?? new Uint8Array())).toBe('artifact');
    const gateway = await as('gateway');
    expect(
      await refusal(gateway, () => new Objm(gateway).open(backupBucketOf(REGION)).then((o) => o.getBlob('b1'))),
    ).toMatch(PERMISSION);
  });
});

describe("docker-compose's nats-server.conf", () => {
  const file = new URL('../../../infra/nats/nats-server.conf', import.meta.url);

  it('is what the generator writes (npm run nats:auth -- --compose)', () => {
    expect(readFileSync(file, 'utf8')).toBe(composeNatsServerConfig(defaultRegions().map((r) => r.name)));
  });

  it('nats-server accepts it with the passwords in its environment, and refuses it without', () => {
    const bin = process.env.NATS_SERVER_BIN ?? 'nats-server';
    const passwordEnv = Object.fromEntries(
      (['admin', ...NATS_SERVICE_USERS] as const).map((u) => [natsPasswordVariable(u), `pw-${u}`]),
    );
    const path = file.pathname;
    const withPasswords = spawnSync(bin, ['-t', '-c', path], { env: { ...process.env, ...passwordEnv } });
    expect(withPasswords.status, String(withPasswords.stderr)).toBe(0);
    const without = spawnSync(bin, ['-t', '-c', path], { env: { PATH: process.env.PATH ?? '' } });
    expect(String(without.stderr)).toMatch(/NATS_ADMIN_PASSWORD/);
  });
});
