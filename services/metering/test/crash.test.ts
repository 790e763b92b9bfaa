import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type JetStreamClient, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Consumers, Streams } from '@ttm/contracts';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortenAckWait, startCrashing } from '../../../test/support/crashing.js';
import { eventually, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import {
  publishUsage,
  publishUsageBatches,
  type Usage,
  usageDrained,
  windowTotals,
} from '../../../test/support/usage.js';
import { startMeteringStack } from './support/stack.js';

const crashing = fileURLToPath(new URL('./support/crashingMetering.ts', import.meta.url));

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  ({ stack, nc, js } = await startMeteringStack({ METERING_BATCH_SIZE: '500' }));
  await shortenAckWait(nc, Streams.USAGE, Consumers.meteringUsage);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

function spawnMetering(env: Record<string, string> = {}) {
  return startCrashing(crashing, { ...stack.env, ...env });
}

function usageFor(tenants: string[], count: number, source: string): Usage[] {
  return Array.from({ length: count }, (_, i) => ({
    tenantId: tenants[i % tenants.length]!,
    value: 1 + (i % 9),
    dedupKey: `${source}:${i}`,
  }));
}

async function keysCounted(): Promise<number> {
  const client = new pg.Client({ connectionString: stack.db.url });
  await client.connect();
  try {
    // Before metering first started, its migrations have not run.
    const { rows } = await client.query<{ t: string | null }>("SELECT to_regclass('metering.usage_dedup')::text AS t");
    if (!rows[0]?.t) return 0;
    return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM metering.usage_dedup')).rows[0]!.n;
  } finally {
    await client.end();
  }
}

/**
 * Run the crashing metering while `publish` streams usage in, and kill it once it is counting,
 * somewhere in the middle of the stream (it has counted some keys by then); returns when
 * everything is published.
 */
async function killWhileCounting(publish: () => Promise<unknown>): Promise<void> {
  const before = await keysCounted();
  const jsm = await jetstreamManager(nc);
  const ackFloor = async () => (await jsm.consumers.info(Streams.USAGE, Consumers.meteringUsage)).ack_floor.stream_seq;
  const floorBefore = await ackFloor();
  const { child, exited } = spawnMetering();
  const publishing = publish();
  await eventually(async () => ((await ackFloor()) > floorBefore ? true : undefined), 60_000);
  await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
  child.kill('SIGKILL');
  expect(await exited).toBe('killed');
  expect(await keysCounted()).toBeGreaterThan(before);
  await publishing;
}

async function expectExactlyOnce(usages: Usage[]) {
  const expected = new Map<string, number>();
  for (const u of usages) expected.set(u.tenantId, (expected.get(u.tenantId) ?? 0) + u.value);
  const totals = await windowTotals(stack.db.url);
  for (const [tenantId, sum] of expected)
    expect(totals.get(tenantId), tenantId).toEqual({ hour: sum, day: sum, month: sum });
  const client = new pg.Client({ connectionString: stack.db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM metering.usage_dedup WHERE tenant_id = ANY($1::uuid[])',
      [[...expected.keys()]],
    );
    expect(rows[0]!.n).toBe(usages.length);
  } finally {
    await client.end();
  }
}

/** Metering started again in-process drains USAGE and counts every one of `usages` exactly once. */
async function restartedCountsExactlyOnce(usages: Usage[]): Promise<void> {
  await stack.startMetering();
  try {
    // Generous: a loaded machine (CI beside other work) drains slowly; this waits, it measures nothing.
    await usageDrained(nc, 60_000);
    await expectExactlyOnce(usages);
  } finally {
    await stack.stopMetering();
  }
}

describe('metering killed mid-batch', () => {
  it('loses and doubles nothing when killed after a commit, before the acks', async () => {
    const tenants = Array.from({ length: 7 }, () => randomUUID());
    const usages = usageFor(tenants, 3_000, 'gw-crash-a');
    await publishUsage(js, usages);
    const before = await keysCounted();
    const { exited } = spawnMetering({ CRASH_AFTER_BATCHES: '2' });
    expect(await exited).toBe('killed');
    // Two batches committed, the second never acknowledged: it comes again and must count nothing.
    expect(await keysCounted()).toBeGreaterThan(before);

    await restartedCountsExactlyOnce(usages);
  }, 120_000);

  it('loses and doubles nothing when killed at any moment while usage streams in', async () => {
    const tenants = Array.from({ length: 13 }, () => randomUUID());
    const usages = usageFor(tenants, 20_000, 'gw-crash-b');
    await killWhileCounting(() => publishUsage(js, usages));

    await restartedCountsExactlyOnce(usages);
  }, 150_000);

  it('loses and doubles nothing when killed while v2 messages (many records each) stream in', async () => {
    const tenants = Array.from({ length: 200 }, () => randomUUID());
    // Keys unique per tenant: record i is tenant i % 200's (i / 200)-th count.
    const usages = usageFor(tenants, 20_000, 'gw-crash-c').map((u, i) => ({
      ...u,
      dedupKey: `gw-crash-c:${Math.floor(i / tenants.length)}`,
    }));
    // 100 messages of 200 records: a metering batch (500 records) is two of them and a redelivery
    // brings whole messages back, some of whose records were committed.
    await killWhileCounting(() => publishUsageBatches(js, usages, 200, 'gw-crash-c'));
    // The same messages again, under other batch keys (a producer retrying past the duplicate window).
    await publishUsageBatches(js, usages, 300, 'gw-crash-c-late');

    await restartedCountsExactlyOnce(usages);
  }, 150_000);
});
