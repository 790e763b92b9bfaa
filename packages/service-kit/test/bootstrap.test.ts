import { type JetStreamManager, jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import {
  bucketDefinitions,
  Consumers,
  consumerDefinition,
  consumerDefinitions,
  objectStoreDefinitions,
  Streams,
  streamDefinitions,
} from '@ttm/contracts';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BootstrapReport,
  bootstrapTopology,
  streamConfigFor,
  type TopologySettings,
  topologySettingsFrom,
} from '../src/bootstrap.js';
import { commonEnv, loadConfig } from '../src/config.js';
import { PrivateNatsServer } from '../src/testing/natsServer.js';

const logger = pino({ level: 'silent' });
const settings: TopologySettings = topologySettingsFrom(loadConfig(commonEnv, {}));

/** The streams DESIGN.md names, so a definition dropped from contracts fails here. */
const designStreams = ['COMMANDS', 'EVENTS', 'USAGE', 'BILLING', 'AUDIT'];

const everyItem = [
  ...streamDefinitions.map((s) => `stream ${s.name}`),
  ...consumerDefinitions.map((c) => `consumer ${c.stream}/${c.durable}`),
  ...bucketDefinitions.map((b) => `kv ${b.bucket}`),
  ...objectStoreDefinitions.map((o) => `object-store ${o.bucket}`),
].sort();

const sorted = (report: BootstrapReport) => ({
  created: [...report.created].sort(),
  updated: [...report.updated].sort(),
  unchanged: [...report.unchanged].sort(),
});

let server: PrivateNatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await PrivateNatsServer.start();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function snapshot() {
  const streams: Record<string, StreamConfig> = {};
  for (const def of streamDefinitions) streams[def.name] = (await jsm.streams.info(def.name)).config;
  const consumers: Record<string, unknown> = {};
  for (const def of consumerDefinitions) {
    consumers[`${def.stream}/${def.durable}`] = (await jsm.consumers.info(def.stream, def.durable)).config;
  }
  return { streams, consumers };
}

async function streamCount(): Promise<number> {
  let count = 0;
  for await (const _ of jsm.streams.names()) count++;
  return count;
}

describe('bootstrapTopology', () => {
  it('creates everything once, and a second run changes nothing', async () => {
    const first = await bootstrapTopology(nc, settings, logger);
    expect(sorted(first)).toEqual({ created: everyItem, updated: [], unchanged: [] });
    const before = await snapshot();

    const second = await bootstrapTopology(nc, settings, logger);
    expect(sorted(second)).toEqual({ created: [], updated: [], unchanged: everyItem });
    expect(await snapshot()).toEqual(before);
  });

  it('holds every stream of the design with its description and settings', async () => {
    expect(streamDefinitions.map((s) => s.name)).toEqual(expect.arrayContaining(designStreams));
    for (const def of streamDefinitions) {
      const { config } = await jsm.streams.info(def.name);
      expect(config.description).toBe(def.description);
      expect(config.subjects).toEqual(def.subjects);
      expect(config.retention).toBe(def.retention);
      expect(config.deny_delete).toBe(def.denyDelete);
      expect(config.deny_purge).toBe(def.denyPurge);
      expect(config.allow_direct).toBe(true);
    }
    const usage = (await jsm.streams.info(Streams.USAGE)).config;
    expect(usage.max_age).toBe(nanos(settings.usageMaxAgeMs));
    for (const def of consumerDefinitions) {
      const { config } = await jsm.consumers.info(def.stream, def.durable);
      expect(config).toMatchObject({
        durable_name: def.durable,
        description: def.description,
        filter_subject: def.filterSubject,
        ack_policy: 'explicit',
        deliver_policy: 'all',
        max_deliver: def.maxDeliver,
        ack_wait: nanos(def.ackWaitSeconds * 1_000),
        max_ack_pending: def.maxAckPending,
      });
      expect(config.deliver_subject).toBeUndefined();
    }
    for (const def of bucketDefinitions) {
      const { config } = await jsm.streams.info(`KV_${def.bucket}`);
      expect(config).toMatchObject({ description: def.description, max_msgs_per_subject: def.history });
    }
  });

  it('updates a changed setting in place instead of adding a stream', async () => {
    const streamsBefore = await streamCount();
    const shorter = { ...settings, usageMaxAgeMs: 2 * 3_600_000 };

    const report = await bootstrapTopology(nc, shorter, logger);
    expect(report.updated).toEqual([`stream ${Streams.USAGE}`]);
    expect(report.created).toEqual([]);
    expect((await jsm.streams.info(Streams.USAGE)).config.max_age).toBe(nanos(shorter.usageMaxAgeMs));
    expect(await streamCount()).toBe(streamsBefore);

    // And back: the configured value wins again.
    const restored = await bootstrapTopology(nc, settings, logger);
    expect(restored.updated).toEqual([`stream ${Streams.USAGE}`]);
    expect((await jsm.streams.info(Streams.USAGE)).config.max_age).toBe(nanos(settings.usageMaxAgeMs));
  });

  it('puts back a consumer and a stream changed by hand on the server', async () => {
    const [def] = consumerDefinitions;
    if (!def) throw new Error('no consumer definitions');
    await jsm.consumers.update(def.stream, def.durable, { ack_wait: nanos(5_000), description: 'edited by hand' });
    await jsm.streams.update(Streams.BILLING, { description: 'edited by hand', duplicate_window: nanos(60_000) });

    const report = await bootstrapTopology(nc, settings, logger);
    expect(sorted(report).updated).toEqual([`consumer ${def.stream}/${def.durable}`, `stream ${Streams.BILLING}`]);
    const consumer = (await jsm.consumers.info(def.stream, def.durable)).config;
    expect(consumer.ack_wait).toBe(nanos(def.ackWaitSeconds * 1_000));
    expect(consumer.description).toBe(def.description);
    const billing = (await jsm.streams.info(Streams.BILLING)).config;
    expect(billing).toMatchObject(
      streamConfigFor(streamDefinitions.find((s) => s.name === Streams.BILLING)!, settings),
    );

    expect(sorted(await bootstrapTopology(nc, settings, logger)).unchanged).toEqual(everyItem);
  });

  it("raises an existing deployment's provisioner commands consumer to the contract's max_deliver", async () => {
    const def = consumerDefinition(Consumers.provisionerCommands);
    // As deployments made before the provisioner waited out outages on 20 deliveries have it.
    await jsm.consumers.update(def.stream, def.durable, { max_deliver: 5 });

    const report = await bootstrapTopology(nc, settings, logger);
    expect(report.updated).toEqual([`consumer ${def.stream}/${def.durable}`]);
    expect((await jsm.consumers.info(def.stream, def.durable)).config.max_deliver).toBe(def.maxDeliver);
    expect(def.maxDeliver).toBe(20);
  });

  it('refuses what cannot change in place, says what and how, and leaves it alone', async () => {
    await jsm.streams.delete(Streams.BILLING);
    await jsm.streams.add({ name: Streams.BILLING, subjects: ['billing.>'], retention: 'interest' });
    await expect(bootstrapTopology(nc, settings, logger)).rejects.toThrow(
      /cannot update stream BILLING: retention differ.*cannot change in place/,
    );
    expect((await jsm.streams.info(Streams.BILLING)).config.retention).toBe('interest');
    await jsm.streams.delete(Streams.BILLING);

    const def = consumerDefinitions.find((c) => c.stream === Streams.EVENTS)!;
    await jsm.consumers.delete(def.stream, def.durable);
    await jsm.consumers.add(def.stream, {
      durable_name: def.durable,
      ack_policy: 'explicit',
      deliver_subject: 'probe.push',
      filter_subject: def.filterSubject,
    });
    await expect(bootstrapTopology(nc, settings, logger)).rejects.toThrow(
      /is a push consumer.*must be a pull consumer/,
    );
    // Streams come first, so that run already recreated BILLING as defined.
    expect((await jsm.streams.info(Streams.BILLING)).config.retention).toBe('limits');
    await jsm.consumers.delete(def.stream, def.durable);

    const repaired = await bootstrapTopology(nc, settings, logger);
    // The consumers of the recreated BILLING stream went with it and come back too.
    const billingConsumers = consumerDefinitions
      .filter((c) => c.stream === Streams.BILLING)
      .map((c) => `consumer ${c.stream}/${c.durable}`);
    expect(repaired.created.sort()).toEqual([`consumer ${def.stream}/${def.durable}`, ...billingConsumers].sort());
    expect(repaired.updated).toEqual([]);
  });
});

describe('bootstrapTopology on a standalone server', () => {
  it('refuses more than one replica, naming the variable', async () => {
    await expect(bootstrapTopology(nc, { ...settings, replicas: 3 }, logger)).rejects.toThrow(
      /NATS_STREAM_REPLICAS is 3 .*not clustered/,
    );
  });
});

describe('bootstrapTopology run by several services at once', () => {
  it('ends with one of each, and nothing left to do', async () => {
    for await (const name of jsm.streams.names()) await jsm.streams.delete(name);

    const reports = await Promise.all([1, 2, 3].map(() => bootstrapTopology(nc, settings, logger)));
    for (const report of reports) {
      expect([...report.created, ...report.unchanged].sort()).toEqual(everyItem);
      expect(report.updated).toEqual([]);
    }
    expect(await streamCount()).toBe(
      streamDefinitions.length + bucketDefinitions.length + objectStoreDefinitions.length,
    );
    expect(sorted(await bootstrapTopology(nc, settings, logger)).unchanged).toEqual(everyItem);
  });
});

describe('topologySettingsFrom', () => {
  it('reads replicas, ages and size from the environment', () => {
    const config = loadConfig(commonEnv, {
      NATS_STREAM_REPLICAS: '3',
      USAGE_MAX_AGE: '2h',
      DEADLETTER_MAX_AGE: '7d',
      STREAM_MAX_BYTES: '1048576',
    });
    expect(topologySettingsFrom(config)).toEqual({
      replicas: 3,
      usageMaxAgeMs: 7_200_000,
      deadLetterMaxAgeMs: 604_800_000,
      maxBytes: 1_048_576,
    });
  });
});

describe('streamConfigFor', () => {
  it('keeps the duplicate window within a short max age', () => {
    const usage = streamDefinitions.find((s) => s.name === Streams.USAGE)!;
    const config = streamConfigFor(usage, { ...settings, usageMaxAgeMs: 60_000 });
    expect(config.max_age).toBe(nanos(60_000));
    expect(config.duplicate_window).toBe(nanos(60_000));
  });
});
