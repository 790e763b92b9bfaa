import { randomUUID } from 'node:crypto';
import { type JetStreamClient, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  Buckets,
  Consumers,
  encodeMessage,
  Streams,
  Subjects,
  UsageQuerySubjects,
  UsageRecorded,
  UsageRecordedBatch,
  UsageWindowsReply,
  usageTotalKey,
} from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import {
  publishUsage,
  publishUsageBatches,
  republishPastDuplicateWindow,
  type Usage,
  usageBatchMessage,
  usageDrained,
  windowTotals,
} from '../../../test/support/usage.js';
import { messageHeaders, rawHeaderBlock } from '../src/ingest/messageHeaders.js';
import { startMeteringStack } from './support/stack.js';

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  ({ stack, nc, js } = await startMeteringStack({ METERING_BATCH_SIZE: '200' }));
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

function expected(usages: Usage[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const u of usages) sums.set(u.tenantId, (sums.get(u.tenantId) ?? 0) + u.value);
  return sums;
}

async function expectCountedOnce(usages: Usage[]) {
  const totals = await windowTotals(stack.db.url);
  for (const [tenantId, sum] of expected(usages)) {
    expect(totals.get(tenantId), tenantId).toEqual({ hour: sum, day: sum, month: sum });
  }
}

describe('reading usage messages', () => {
  it('takes the fast header path with this NATS client, and reads what msg.headers reads', async () => {
    const tenant = randomUUID();
    await publishUsage(js, [{ tenantId: tenant, value: 1, dedupKey: 'hdr:1' }]);
    const consumer = await js.consumers.get(Streams.USAGE, { filter_subjects: Subjects.usage(tenant, 'api_calls') });
    const msg = await consumer.next({ expires: 2_000 });
    await consumer.delete();
    expect(msg).not.toBeNull();
    expect(rawHeaderBlock(msg!)).toBeDefined();
    const fromClient = new Map([...msg!.headers!].map(([name, values]) => [name, values[0]!]));
    expect(messageHeaders(msg!)).toEqual(fromClient);
    expect(fromClient.get('ce-type')).toBe(UsageRecorded.type);
  });
});

describe('usage is counted exactly once', () => {
  it('counts batches into hour, day and month windows, and drops duplicates however they come', async () => {
    await stack.startMetering();
    try {
      const tenants = Array.from({ length: 10 }, () => randomUUID());
      const usages: Usage[] = Array.from({ length: 2_000 }, (_, i) => ({
        tenantId: tenants[i % tenants.length]!,
        value: 1 + (i % 7),
        dedupKey: `gw-1:${i}`,
      }));
      expect(await publishUsage(js, usages)).toBe(0);
      // The same batches again: inside the duplicate window JetStream drops them ...
      expect(await publishUsage(js, usages.slice(0, 300))).toBe(300);
      // ... after it, the stream stores them and metering's keys drop them.
      await republishPastDuplicateWindow(js, usages.slice(300, 700));
      await usageDrained(nc);
      await expectCountedOnce(usages);

      const totals = await new Kvm(nc).open(Buckets.usageTotals);
      const tenant = tenants[0]!;
      const entry = await eventually(async () => {
        const e = await totals.get(usageTotalKey(tenant, 'api_calls'));
        const value = e?.json<{ value: number }>().value;
        return value === expected(usages).get(tenant) ? e!.json<Record<string, unknown>>() : undefined;
      }, 5_000);
      expect(entry).toMatchObject({ tenantId: tenant, meter: 'api_calls', kind: 'count' });

      // The gateway reads the same windows through metering's query subject.
      const ask = async (request: unknown) =>
        UsageWindowsReply.parse(
          (await nc.request(UsageQuerySubjects.windows, JSON.stringify(request), { timeout: 2_000 })).json(),
        );
      const now = Date.now();
      const reply = await ask({
        tenantId: tenant,
        granularity: 'month',
        from: new Date(now - 40 * 86_400_000).toISOString(),
        to: new Date(now + 3_600_000).toISOString(),
      });
      expect(reply).toMatchObject({
        ok: true,
        truncated: false,
        windows: [
          {
            meter: 'api_calls',
            kind: 'count',
            granularity: 'month',
            value: expected(usages).get(tenant),
            closed: false,
          },
        ],
      });
      expect(await ask({ tenantId: 'nope', granularity: 'week' })).toMatchObject({
        ok: false,
        error: { code: 'bad-request', message: expect.stringContaining('granularity') },
      });
    } finally {
      await stack.stopMetering();
    }
  });

  it('counts a redelivered batch once (committed, then the acks never made it)', async () => {
    let failures = 0;
    await stack.startMetering({
      afterCommit: () => {
        // The first batch commits, then its messages are given back as if the acks were lost.
        if (failures++ === 0) throw new Error('acks lost');
      },
    });
    try {
      const tenant = randomUUID();
      const usages = Array.from({ length: 150 }, (_, i) => ({ tenantId: tenant, value: 3, dedupKey: `gw-2:${i}` }));
      await publishUsage(js, usages);
      await usageDrained(nc);
      expect(failures).toBeGreaterThan(1);
      await expectCountedOnce(usages);
    } finally {
      await stack.stopMetering();
    }
  });

  it('dead-letters a message that breaks its contract and counts the rest', async () => {
    await stack.startMetering();
    try {
      const tenant = randomUUID();
      const other = randomUUID();
      const good = [{ tenantId: tenant, value: 5, dedupKey: 'gw-3:1' }];
      await publishUsage(js, good);
      // A gauge claiming to be a count, and one tenant's usage on another tenant's subject.
      const wrongKind = encodeMessage(
        UsageRecorded,
        { tenantId: tenant, meter: 'users', kind: 'count', value: 9, at: new Date().toISOString(), dedupKey: 'x:1' },
        { source: '/test' },
      );
      await publishMessage(js, Subjects.usage(tenant, 'users'), wrongKind);
      const wrongSubject = encodeMessage(
        UsageRecorded,
        {
          tenantId: tenant,
          meter: 'api_calls',
          kind: 'count',
          value: 9,
          at: new Date().toISOString(),
          dedupKey: 'x:2',
        },
        { source: '/test' },
      );
      await publishMessage(js, Subjects.usage(other, 'api_calls'), wrongSubject);
      await usageDrained(nc);
      await expectCountedOnce(good);
      expect((await windowTotals(stack.db.url, 'users')).get(tenant)).toBeUndefined();
      const jsm = await jetstreamManager(nc);
      const dead = await jsm.streams.info(Streams.DEADLETTER, {
        subjects_filter: Subjects.deadLetter(Streams.USAGE, Consumers.meteringUsage),
      });
      expect(dead.state.messages).toBe(2);
    } finally {
      await stack.stopMetering();
    }
  });

  it('counts v2 messages (many records each) once: repeats inside, republished, re-chunked, mixed with v1', async () => {
    await stack.startMetering();
    try {
      const tenants = Array.from({ length: 25 }, () => randomUUID());
      const usages: Usage[] = Array.from({ length: 3_000 }, (_, i) => ({
        tenantId: tenants[i % tenants.length]!,
        value: 1 + (i % 11),
        dedupKey: `gw-b1:${Math.floor(i / tenants.length)}`,
      }));
      // 30 messages of 100 records; the metering batch (200 records) takes two at a time.
      expect(await publishUsageBatches(js, usages, 100, 'gw-b1')).toBe(0);
      // The same messages again: JetStream drops them inside its duplicate window ...
      expect(await publishUsageBatches(js, usages.slice(0, 500), 100, 'gw-b1')).toBe(5);
      // ... and metering drops their records when they come under other batch keys (past the
      // window, or cut into other messages), or one by one as v1.
      await publishUsageBatches(js, usages.slice(0, 900), 300, 'gw-b1-late');
      await publishUsage(js, usages.slice(900, 1_000));
      // One message repeating records of its own: the first of each key counts.
      const repeated = usageBatchMessage([...usages.slice(1_000, 1_050), ...usages.slice(1_000, 1_050)], 'gw-b1-rep');
      await publishMessage(js, repeated.subject, repeated.message);
      await usageDrained(nc);
      await expectCountedOnce(usages);
    } finally {
      await stack.stopMetering();
    }
  });

  it('counts a redelivered v2 message once (committed, then the acks never made it)', async () => {
    let failures = 0;
    await stack.startMetering({
      afterCommit: () => {
        if (failures++ === 0) throw new Error('acks lost');
      },
    });
    try {
      const tenants = Array.from({ length: 40 }, () => randomUUID());
      const usages = Array.from({ length: 400 }, (_, i) => ({
        tenantId: tenants[i % tenants.length]!,
        value: 2,
        dedupKey: `gw-b2:${Math.floor(i / tenants.length)}`,
      }));
      await publishUsageBatches(js, usages, 40, 'gw-b2');
      await usageDrained(nc);
      expect(failures).toBeGreaterThan(1);
      await expectCountedOnce(usages);
    } finally {
      await stack.stopMetering();
    }
  });

  it('dead-letters a v2 message that breaks its contract, whole, and counts the rest', async () => {
    const jsm = await jetstreamManager(nc);
    const deadLetters = async () =>
      (
        await jsm.streams.info(Streams.DEADLETTER, {
          subjects_filter: Subjects.deadLetter(Streams.USAGE, Consumers.meteringUsage),
        })
      ).state.messages;
    const deadBefore = await deadLetters();
    await stack.startMetering();
    try {
      const tenant = randomUUID();
      const good = [{ tenantId: tenant, value: 4, dedupKey: 'gw-b3:1' }];
      await publishUsageBatches(js, good, 10, 'gw-b3');
      const at = new Date().toISOString();
      // A gauge meter's records sent as counts; a batch of api_calls on the users subject.
      const wrongKind = encodeMessage(
        UsageRecordedBatch,
        {
          meter: 'users',
          kind: 'count',
          batchKey: 'x:b1',
          records: [{ tenantId: tenant, value: 9, at, dedupKey: 'x:1' }],
        },
        { source: '/test' },
      );
      await publishMessage(js, Subjects.usageBatch('gateway', 'users'), wrongKind);
      const wrongSubject = usageBatchMessage([{ tenantId: tenant, value: 9, dedupKey: 'x:2' }], 'x:b2');
      await publishMessage(js, Subjects.usageBatch('gateway', 'users'), wrongSubject.message);
      await usageDrained(nc);
      await expectCountedOnce(good);
      expect((await windowTotals(stack.db.url, 'users')).get(tenant)).toBeUndefined();
      // Copied to the dead letters before terminated: drained means both copies are there.
      expect(await deadLetters()).toBe(deadBefore + 2);
    } finally {
      await stack.stopMetering();
    }
  });
});
