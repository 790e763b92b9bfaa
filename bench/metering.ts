/**
 * Usage metering throughput: N usage events (batch counts of api_calls, as the gateway
 * publishes them) for T tenants, R records per message (`ttm.usage.recorded.v2`, one gateway
 * flush; R = 1: one `ttm.usage.recorded.v1` message each), published as fast as pipelined JetStream publishing goes,
 * timed from the first publish until metering's hourly windows hold all of them (a SUM polled
 * every 50 ms). Then the duplicate check: 10 % republished with the same ce-id (JetStream drops
 * them) and 10 % with the same dedup keys but new message ids (a producer retrying after the
 * USAGE duplicate window: metering's keys drop them); the totals must not move.
 */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, createInbox, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import {
  Consumers,
  encodeMessage,
  Streams,
  Subjects,
  USAGE_BATCH_MAX_RECORDS,
  UsageRecorded,
  UsageRecordedBatch,
  usageBatchEventId,
  usageEventId,
} from '@ttm/contracts';
import { natsHeadersFrom } from '@ttm/service-kit';
import pg from 'pg';
import { cpuSecondsOf } from './lib/cpu.js';
import { type ProcessStack, startProcessStack } from './lib/processStack.js';
import { BenchReport } from './lib/report.js';

const EVENTS = Number(process.env.BENCH_USAGE_EVENTS ?? 500_000);
const TENANTS = Number(process.env.BENCH_USAGE_TENANTS ?? 1_000);
const IN_FLIGHT = Number(process.env.BENCH_USAGE_IN_FLIGHT ?? 2_000);
/** Records per message: as many as one gateway flush of T tenants carries (at most 2,000); 1 sends v1 messages. */
const PER_MESSAGE = Number(process.env.BENCH_USAGE_RECORDS_PER_MESSAGE ?? Math.min(TENANTS, USAGE_BATCH_MAX_RECORDS));
const DUPLICATE_SHARE = 0.1;

interface Event {
  tenantId: string;
  value: number;
  dedupKey: string;
}

export async function run(): Promise<void> {
  const report = new BenchReport('metering');
  const env = {
    METERING_SAMPLE_INTERVAL: '1h',
    METERING_CLOSE_INTERVAL: '1h',
    USAGE_MAX_AGE: '1d',
    LOG_LEVEL: 'warn',
  };
  const stack = await startProcessStack(['metering'], env);
  const nc = await connect({ servers: stack.nats.url });
  const db = new pg.Client({ connectionString: stack.db.url });
  await db.connect();
  try {
    const tenants = Array.from({ length: TENANTS }, () => randomUUID());
    const event = (i: number): Event => ({
      tenantId: tenants[i % TENANTS]!,
      value: 1 + (i % 5),
      dedupKey: `bench-gw-${i % 8}:${i}`,
    });
    let expected = 0;
    for (let i = 0; i < EVENTS; i++) expected += event(i).value;
    report.describe({
      events: EVENTS,
      tenants: TENANTS,
      records_per_message: PER_MESSAGE,
      messages: Math.ceil(EVENTS / PER_MESSAGE),
      publishes_in_flight: IN_FLIGHT,
      batch_size: process.env.METERING_BATCH_SIZE ?? '10000 (default)',
      batch_concurrency: process.env.METERING_BATCH_CONCURRENCY ?? '2 (default)',
      services: 'metering as a process; nats-server, PostgreSQL and this publisher share the machine',
    });

    const total = () =>
      db
        .query<{ total: string }>(
          `SELECT coalesce(sum(value), 0)::bigint AS total FROM metering.usage_windows
            WHERE granularity = 'hour' AND meter = 'api_calls'`,
        )
        .then((r) => Number(r.rows[0]!.total));

    const messages = prepare(EVENTS, event);
    const cpuBefore = await cpuSnapshot(stack, db);
    const started = performance.now();
    const done = waitForTotal(total, expected, 300_000);
    // Awaited after publishing; handled now so that a timeout while publishing still reaches the cleanup.
    done.catch(() => undefined);
    await publishAll(nc, messages, () => undefined);
    const publishedAt = performance.now();
    const finishedAt = await done;
    const seconds = (finishedAt - started) / 1_000;
    report.figure('usage events per second, publish to aggregated window', EVENTS / seconds, 'events/s', '>= 50000');
    report.figure(
      'publish rate (pipelined JetStream publish, acknowledged)',
      EVENTS / ((publishedAt - started) / 1_000),
      'events/s',
    );
    report.figure('aggregation lag after the last publish', finishedAt - publishedAt, 'ms');
    report.figure('total time for all events', seconds, 's');
    // Where the machine's cores went during the timed run, per 1,000 events.
    for (const [role, used] of cpuBetween(cpuBefore, await cpuSnapshot(stack, db))) {
      if (role !== 'other' && used > 0) report.figure(`CPU per 1000 events: ${role}`, (used / EVENTS) * 1e6, 'ms');
    }

    // Duplicates: the same ce-id inside the window, and the same dedup keys past it.
    const shareMessages = Math.ceil(messages.length * DUPLICATE_SHARE);
    const share = Math.min(EVENTS, shareMessages * PER_MESSAGE);
    let droppedByJetStream = 0;
    await publishAll(nc, messages.slice(0, shareMessages), (duplicate) => {
      if (duplicate) droppedByJetStream++;
    });
    const late = prepare(share, (i) => event(share + i), '#late');
    const lateStarted = performance.now();
    await publishAll(nc, late, () => undefined);
    await drained(nc);
    const lateSeconds = (performance.now() - lateStarted) / 1_000;
    const after = await total();
    report.figure(
      'duplicates dropped by JetStream (same ce-id, 10 %)',
      (droppedByJetStream / shareMessages) * 100,
      '%',
      '100 %',
    );
    report.figure(
      'duplicates past the duplicate window dropped by metering (same dedup keys, 10 %)',
      after === expected ? 100 : (1 - (after - expected) / share) * 100,
      '%',
      '100 %',
    );
    report.figure('late duplicates handled per second', share / lateSeconds, 'events/s');
    report.figure('totals unchanged after the duplicates', after === expected ? 1 : 0, 'bool', '1');
    const { rows } = await db.query<{ keys: string }>('SELECT count(*)::bigint AS keys FROM metering.usage_dedup');
    report.figure('dedup keys stored', Number(rows[0]!.keys), 'keys', String(EVENTS));
    await report.save();
  } finally {
    await db.end();
    await nc.close();
    await stack.stop();
  }
}

interface Prepared {
  subject: string;
  headers: MsgHdrs;
  body: Uint8Array;
}

/**
 * Encode events before the clock starts, as CloudEvents with their headers already serialized:
 * the timed loop then only frames and writes them, so the figure measures the pipeline (NATS,
 * metering, PostgreSQL) rather than this load generator's header building.
 */
function prepare(count: number, event: (i: number) => Event, msgIdSuffix = ''): Prepared[] {
  const at = new Date().toISOString();
  const prepared: Prepared[] = [];
  const frame = (subject: string, message: ReturnType<typeof encodeMessage>, msgId: string) => {
    const headers = natsHeadersFrom(message.headers);
    headers.set('Nats-Msg-Id', msgId);
    const encoded = (headers as unknown as { encode(): Uint8Array }).encode();
    // The client only calls encode() on the headers it publishes.
    prepared.push({ subject, headers: { encode: () => encoded } as unknown as MsgHdrs, body: message.body });
  };
  if (PER_MESSAGE <= 1) {
    for (let i = 0; i < count; i++) {
      const e = event(i);
      const id = usageEventId(e.tenantId, 'api_calls', e.dedupKey);
      const message = encodeMessage(
        UsageRecorded,
        { tenantId: e.tenantId, meter: 'api_calls', kind: 'count', value: e.value, at, dedupKey: e.dedupKey },
        { source: '/ttm/bench', id, subject: e.tenantId },
      );
      frame(Subjects.usage(e.tenantId, 'api_calls'), message, `${id}${msgIdSuffix}`);
    }
    return prepared;
  }
  // One gateway flush: every tenant's count in one message, under the flush's batch key.
  for (let first = 0; first < count; first += PER_MESSAGE) {
    const records = [];
    for (let i = first; i < Math.min(count, first + PER_MESSAGE); i++) {
      const e = event(i);
      records.push({ tenantId: e.tenantId, value: e.value, at, dedupKey: e.dedupKey });
    }
    const batchKey = `bench-gw:${first / PER_MESSAGE}${msgIdSuffix}`;
    const id = usageBatchEventId('bench', 'api_calls', batchKey);
    const message = encodeMessage(
      UsageRecordedBatch,
      { meter: 'api_calls', kind: 'count', batchKey, records },
      { source: '/ttm/bench', id },
    );
    frame(Subjects.usageBatch('bench', 'api_calls'), message, id);
  }
  return prepared;
}

/**
 * Publish prepared messages to JetStream with at most IN_FLIGHT unacknowledged, and resolve
 * once the stream acknowledged all of them: `js.publish` pipelined by hand. Each message carries
 * a reply subject under one inbox and the PubAcks arrive on one subscription, which spares the
 * client a request (inbox, timer, promise) per message; the stream and its acks are the same.
 */
async function publishAll(
  nc: NatsConnection,
  messages: Prepared[],
  onAck: (duplicate: boolean) => void,
): Promise<number> {
  const inbox = createInbox();
  const decoder = new TextDecoder();
  let acked = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const acks = nc.subscribe(`${inbox}.*`, {
    callback: (_error, msg) => {
      const ack = JSON.parse(decoder.decode(msg.data)) as { duplicate?: boolean; error?: { description: string } };
      if (ack.error) failure ??= new Error(`JetStream refused a usage message: ${ack.error.description}`);
      onAck(ack.duplicate === true);
      acked++;
      wake?.();
    },
  });
  const waitForAcks = async (upTo: number) => {
    const deadline = Date.now() + 30_000;
    while (acked < upTo && !failure) {
      if (Date.now() > deadline) throw new Error(`${upTo - acked} usage messages not acknowledged within 30 s`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1_000).unref();
      });
    }
    if (failure) throw failure;
  };
  try {
    for (let i = 0; i < messages.length; i++) {
      if (i - acked >= IN_FLIGHT) await waitForAcks(i - IN_FLIGHT + 1);
      const m = messages[i]!;
      nc.publish(m.subject, m.body, { headers: m.headers, reply: `${inbox}.${i}` });
    }
    await waitForAcks(messages.length);
    return acked;
  } finally {
    acks.unsubscribe();
  }
}

async function waitForTotal(total: () => Promise<number>, expected: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = 0;
  while (performance.now() < deadline) {
    last = await total();
    if (last >= expected) return performance.now();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`metering aggregated ${last} of ${expected} within ${timeoutMs} ms`);
}

async function drained(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (;;) {
    const info = await jsm.consumers.info(Streams.USAGE, Consumers.meteringUsage);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** CPU seconds used so far, per role; per process id for PostgreSQL backends. */
type CpuSnapshot = Map<string, number>;

/**
 * The CPU of this benchmark's own processes only (the machine is shared: other nats-servers,
 * PostgreSQL backends and services may be busy with other work): this process, the stack's
 * services and nats-server by process id, and the PostgreSQL backends connected to the stack's
 * databases. Backends that ended between two snapshots are missed.
 */
async function cpuSnapshot(stack: ProcessStack, db: pg.Client): Promise<CpuSnapshot> {
  const totals: CpuSnapshot = new Map();
  const self = process.cpuUsage();
  totals.set('load generator (this process)', (self.user + self.system) / 1e6);
  if (stack.nats.pid) totals.set('nats-server', cpuSecondsOf(stack.nats.pid));
  for (const [service, pid] of Object.entries(stack.pids)) totals.set(service, cpuSecondsOf(pid));
  const { rows } = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname LIKE $1 AND pid <> pg_backend_pid()',
    [`${stack.db.name}%`],
  );
  for (const { pid } of rows) totals.set(`postgres:${pid}`, cpuSecondsOf(pid));
  return totals;
}

/** CPU seconds each role used between two snapshots (processes that ended in between are missed). */
function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Map<string, number> {
  const used = new Map<string, number>();
  for (const [key, seconds] of after) {
    const role = key.startsWith('postgres:') ? 'postgres' : key;
    used.set(role, (used.get(role) ?? 0) + seconds - (before.get(key) ?? 0));
  }
  return used;
}
