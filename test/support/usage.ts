import { type JetStreamClient, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  Consumers,
  encodeMessage,
  type Meter,
  meterKinds,
  Streams,
  Subjects,
  UsageRecorded,
  UsageRecordedBatch,
  usageBatchEventId,
  usageEventId,
} from '@ttm/contracts';
import { natsHeadersFrom, publishMessage } from '@ttm/service-kit';
import pg from 'pg';
import { eventually } from './stack.js';

export interface Usage {
  tenantId: string;
  meter?: Meter;
  value: number;
  dedupKey: string;
  at?: Date;
}

export function usageMessage(u: Usage) {
  const meter = u.meter ?? 'api_calls';
  return encodeMessage(
    UsageRecorded,
    {
      tenantId: u.tenantId,
      meter,
      kind: meterKinds[meter],
      value: u.value,
      at: (u.at ?? new Date()).toISOString(),
      dedupKey: u.dedupKey,
    },
    { source: '/test/gateway', id: usageEventId(u.tenantId, meter, u.dedupKey), subject: u.tenantId },
  );
}

/** Publish usage as a gateway would (ce-id from the dedup key); resolves with how many JetStream called duplicates. */
export async function publishUsage(js: JetStreamClient, usages: Usage[]): Promise<number> {
  let duplicates = 0;
  for (let i = 0; i < usages.length; i += 500) {
    const acks = await Promise.all(
      usages
        .slice(i, i + 500)
        .map((u) => publishMessage(js, Subjects.usage(u.tenantId, u.meter ?? 'api_calls'), usageMessage(u))),
    );
    duplicates += acks.filter((a) => a.duplicate).length;
  }
  return duplicates;
}

/**
 * Publish the same usage again with another Nats-Msg-Id: what a producer retrying after the
 * USAGE duplicate window (600 s) looks like. JetStream stores it; only metering can drop it.
 */
export async function republishPastDuplicateWindow(js: JetStreamClient, usages: Usage[]): Promise<void> {
  await Promise.all(
    usages.map((u) => {
      const message = usageMessage(u);
      return js.publish(Subjects.usage(u.tenantId, u.meter ?? 'api_calls'), message.body, {
        headers: natsHeadersFrom(message.headers),
        msgID: `${message.meta.id}#late`,
      });
    }),
  );
}

/** A `ttm.usage.recorded.v2` message of api_calls records (one meter per message), as the gateway sends a flush. */
export function usageBatchMessage(usages: Usage[], batchKey: string, producer = 'gateway') {
  const meter = usages[0]?.meter ?? 'api_calls';
  const message = encodeMessage(
    UsageRecordedBatch,
    {
      meter,
      kind: meterKinds[meter],
      batchKey,
      records: usages.map((u) => ({
        tenantId: u.tenantId,
        value: u.value,
        at: (u.at ?? new Date()).toISOString(),
        dedupKey: u.dedupKey,
      })),
    },
    { source: '/test/gateway', id: usageBatchEventId(producer, meter, batchKey) },
  );
  return { subject: Subjects.usageBatch(producer, meter), message };
}

/**
 * Publish usage as v2 messages of `perMessage` records each, batch keys `<prefix>:<n>`; resolves
 * with how many messages JetStream called duplicates.
 */
export async function publishUsageBatches(
  js: JetStreamClient,
  usages: Usage[],
  perMessage: number,
  prefix: string,
): Promise<number> {
  const messages = [];
  for (let i = 0; i < usages.length; i += perMessage) {
    messages.push(usageBatchMessage(usages.slice(i, i + perMessage), `${prefix}:${i / perMessage}`));
  }
  let duplicates = 0;
  for (let i = 0; i < messages.length; i += 100) {
    const acks = await Promise.all(
      messages.slice(i, i + 100).map(({ subject, message }) => publishMessage(js, subject, message)),
    );
    duplicates += acks.filter((a) => a.duplicate).length;
  }
  return duplicates;
}

/** Wait until the usage consumer has nothing waiting and nothing in hand. */
export async function usageDrained(nc: NatsConnection, timeoutMs = 20_000): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await eventually(async () => {
    const info = await jsm.consumers.info(Streams.USAGE, Consumers.meteringUsage);
    return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
  }, timeoutMs);
}

/** Sum of a meter's windows per tenant and granularity, read from metering's schema. */
export async function windowTotals(
  databaseUrl: string,
  meter: Meter = 'api_calls',
): Promise<Map<string, { hour: number; day: number; month: number }>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ tenant_id: string; granularity: 'hour' | 'day' | 'month'; total: string }>(
      `SELECT tenant_id, granularity, sum(value)::bigint AS total FROM metering.usage_windows
        WHERE meter = $1 GROUP BY tenant_id, granularity`,
      [meter],
    );
    const totals = new Map<string, { hour: number; day: number; month: number }>();
    for (const r of rows) {
      const t = totals.get(r.tenant_id) ?? { hour: 0, day: 0, month: 0 };
      t[r.granularity] = Number(r.total);
      totals.set(r.tenant_id, t);
    }
    return totals;
  } finally {
    await client.end();
  }
}
