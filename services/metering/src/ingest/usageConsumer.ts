import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import {
  Consumers,
  ContractViolation,
  consumerDefinition,
  decodeData,
  meterKinds,
  readMeta,
  Subjects,
  UsageRecorded,
  UsageRecordedBatch,
} from '@ttm/contracts';
import {
  backoffDelay,
  copyToDeadLetter,
  inTransaction,
  isTransientDatabaseError,
  type Logger,
  openDurableConsumer,
  type Pool,
  pause,
} from '@ttm/service-kit';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { applyUsageBatch, type BatchOutcome } from './applyBatch.js';
import { messageHeaders } from './messageHeaders.js';
import { readBatchRecords } from './readBatch.js';
import type { UsageRecord } from './windowDeltas.js';

export const usageConsumer = consumerDefinition(Consumers.meteringUsage);

export interface UsageConsumerOptions {
  js: JetStreamClient;
  pool: Pool;
  logger: Logger;
  /** Abort to stop: no new message is taken, batches in hand finish, then the promise resolves. */
  signal: AbortSignal;
  /** Usage records per transaction (a v1 message is one record, a v2 message up to 2,000). */
  batchSize: number;
  /** How long a partial batch waits for more messages before it is counted anyway. */
  lingerMs: number;
  /** Batches counted at once (each in its own transaction). */
  concurrency: number;
  now?: () => Date;
  /** After a batch committed and was acknowledged. */
  onCounted?: (outcome: BatchOutcome) => void;
  metrics?: Registry;
  /** Test hook: after the batch's transaction committed, before any of its messages is acknowledged. */
  afterCommit?: (outcome: BatchOutcome) => void | Promise<void>;
}

/**
 * Count the USAGE stream in batches: pull with many messages in flight, count each batch in one
 * transaction (`applyUsageBatch`), then acknowledge the batch. A message is one record
 * (`ttm.usage.recorded.v1`) or many (`ttm.usage.recorded.v2`); each record is keyed on its own. Order does not matter (totals
 * add up the same in any order) and every message is keyed, so a batch that is delivered again,
 * whole or in part, after a crash or an expired AckWait, counts nothing twice.
 *
 * - a message that breaks its contract (envelope, type, payload, a kind that is not its meter's,
 *   a subject that is not its tenant's and meter's) is dead-lettered at once;
 * - PostgreSQL unreachable: the batch stays in hand (AckWait extended) and is retried;
 * - any other failure: the batch is given back with a growing delay, and a message on its last
 *   delivery is dead-lettered rather than retried forever.
 */
export async function runUsageConsumer(options: UsageConsumerOptions): Promise<void> {
  const { js, signal } = options;
  const logger = options.logger.child({ consumer: `${usageConsumer.stream}/${usageConsumer.durable}` });
  const consumer = await openDurableConsumer(js, usageConsumer, logger, signal);
  if (!consumer) return;
  const { config } = await consumer.info(true);
  const maxDeliver = (config.max_deliver ?? -1) > 0 ? config.max_deliver! : usageConsumer.maxDeliver;
  const batcher = new UsageBatcher({ ...options, logger }, maxDeliver, Math.round((config.ack_wait ?? 0) / 1_000_000));
  logger.info({ batchSize: options.batchSize, concurrency: options.concurrency }, 'usage consumer started');
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await batcher.pull(consumer, () => {
        attempt = 1;
      });
      if (signal.aborted) break;
      logger.warn('pulling usage ended; pulling again');
    } catch (error) {
      logger.warn({ err: error }, 'pulling usage failed; pulling again');
    }
    await pause(backoffDelay(attempt, { baseMs: 500, maxMs: 15_000 }), signal);
  }
  await batcher.drain();
  logger.info('usage consumer stopped');
}

type Outcome = 'counted' | 'duplicate' | 'dead_lettered' | 'retry';

/** A message taken from the stream, with the records it carries (decoded on arrival). */
interface Delivery {
  msg: JsMsg;
  records: UsageRecord[];
}

class UsageBatcher {
  private buffer: Delivery[] = [];
  /** Records in `buffer`. */
  private buffered = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** The messages of the batches being counted. */
  private readonly inHand = new Set<JsMsg[]>();
  private readonly deadLettering = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;
  private readonly events: Counter<'outcome'> | undefined;
  private readonly batchSeconds: Histogram | undefined;
  private readonly lag: Gauge | undefined;
  private readonly received: Counter | undefined;

  constructor(
    private readonly options: UsageConsumerOptions,
    private readonly maxDeliver: number,
    private readonly ackWaitMs: number,
  ) {
    this.now = options.now ?? (() => new Date());
    if (options.metrics) {
      const registers = [options.metrics];
      this.events = new Counter({
        name: 'metering_usage_events_total',
        help: 'Usage records taken from the USAGE stream, by outcome (counted, duplicate, dead_lettered, retry); a dead-lettered or retried message counts once',
        labelNames: ['outcome'],
        registers,
      });
      this.batchSeconds = new Histogram({
        name: 'metering_batch_seconds',
        help: 'Time to count one batch (transaction, acks)',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
        registers,
      });
      this.lag = new Gauge({
        name: 'metering_lag_seconds',
        help: 'Age of the newest usage message of the last batch when it was counted (publish to aggregated window)',
        registers,
      });
      this.received = new Counter({
        name: 'metering_usage_received_total',
        help: 'Usage messages delivered to metering from the USAGE stream (redeliveries included)',
        registers,
      });
      const js = options.js;
      new Gauge({
        name: 'metering_usage_backlog_messages',
        help: 'Usage messages not yet aggregated: pending on the metering consumer plus delivered and unacknowledged',
        registers,
        async collect() {
          try {
            const jsm = await js.jetstreamManager();
            const info = await jsm.consumers.info(usageConsumer.stream, usageConsumer.durable);
            this.set(info.num_pending + info.num_ack_pending);
          } catch {
            // NATS unreachable during the scrape: keep the last value.
          }
        },
      });
    }
  }

  /**
   * Pull until the subscription ends or the signal aborts; batches are counted concurrently.
   * The callback form spares an async-iterator step per message: it only buffers (no awaiting),
   * and the server stops delivering at the consumer's max_ack_pending, which bounds the buffer.
   */
  async pull(consumer: Consumer, onMessage: () => void): Promise<void> {
    const { signal, batchSize } = this.options;
    if (signal.aborted) return;
    const messages = await consumer.consume({
      max_messages: batchSize * 2,
      callback: (msg) => {
        onMessage();
        if (signal.aborted) {
          msg.nak();
          return;
        }
        this.received?.inc();
        let records: UsageRecord[];
        try {
          records = readUsage(msg);
        } catch (error) {
          const task = this.deadLetter(msg, `usage message breaks its contract: ${(error as Error).message}`).finally(
            () => this.deadLettering.delete(task),
          );
          this.deadLettering.add(task);
          return;
        }
        this.buffer.push({ msg, records });
        this.buffered += records.length;
        if (this.buffered >= batchSize) {
          if (this.inFlight.size < this.options.concurrency) this.dispatch();
          // else: the batch in hand that finishes first takes it.
        } else {
          this.lingerThenDispatch();
        }
      },
    });
    const stop = () => messages.stop();
    signal.addEventListener('abort', stop, { once: true });
    // Messages wait in the buffer while earlier batches are counted; a few v2 messages are many
    // batches of records. Keep every message taken alive until it is acknowledged, so none is
    // redelivered (and none runs out of deliveries) only because it waited its turn here.
    const keepAlive =
      this.ackWaitMs > 0
        ? setInterval(
            () => {
              for (const { msg } of this.buffer) msg.working();
              for (const batch of this.inHand) for (const msg of batch) msg.working();
            },
            Math.max(250, Math.floor(this.ackWaitMs / 3)),
          )
        : undefined;
    try {
      const ended = await messages.closed();
      if (ended instanceof Error) throw ended;
    } finally {
      clearInterval(keepAlive);
      signal.removeEventListener('abort', stop);
      messages.stop();
    }
  }

  /** Count what is still buffered, and wait for every batch in hand. */
  async drain(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.buffer.length > 0) this.dispatch();
    await Promise.allSettled([...this.inFlight, ...this.deadLettering]);
  }

  private lingerThenDispatch(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.inFlight.size < this.options.concurrency) this.dispatch();
    }, this.options.lingerMs);
  }

  private dispatch(): void {
    if (this.buffer.length === 0) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    let batch: Delivery[];
    if (this.buffered > this.options.batchSize) {
      // Whole messages up to batchSize records (at least one message).
      let take = 0;
      let records = 0;
      while (
        take < this.buffer.length &&
        (take === 0 || records + this.buffer[take]!.records.length <= this.options.batchSize)
      ) {
        records += this.buffer[take]!.records.length;
        take++;
      }
      batch = this.buffer.splice(0, take);
      this.buffered -= records;
    } else {
      batch = this.buffer;
      this.buffer = [];
      this.buffered = 0;
    }
    const task: Promise<void> = this.count(batch)
      .catch((error: unknown) => {
        this.options.logger.error(
          { err: error, size: batch.length },
          'counting a batch failed unexpectedly; redelivering',
        );
        for (const { msg } of batch) msg.nak(backoffDelay(msg.info.deliveryCount, { baseMs: 1_000, maxMs: 60_000 }));
      })
      .finally(() => {
        this.inFlight.delete(task);
        // What arrived while every slot was busy: a full batch, or a partial one that waited long enough.
        if (this.buffered >= this.options.batchSize || (this.buffer.length > 0 && !this.timer)) this.dispatch();
      });
    this.inFlight.add(task);
  }

  private async count(batch: Delivery[]): Promise<void> {
    const started = performance.now();
    const records: UsageRecord[] = [];
    const kept: JsMsg[] = [];
    for (const delivery of batch) {
      for (const record of delivery.records) records.push(record);
      kept.push(delivery.msg);
    }
    this.inHand.add(kept);
    let outcome: BatchOutcome | undefined;
    try {
      outcome = await this.applyHoldingBatch(records, kept);
    } finally {
      this.inHand.delete(kept);
    }
    const committed = performance.now();
    if (outcome) {
      await this.options.afterCommit?.(outcome);
      for (const msg of kept) msg.ack();
      this.options.logger.debug(
        {
          messages: batch.length,
          records: records.length,
          counted: outcome.applied,
          transactionMs: Math.round(committed - started),
          ackMs: Math.round(performance.now() - committed),
        },
        'batch counted',
      );
      this.events?.inc({ outcome: 'counted' }, outcome.applied);
      this.events?.inc({ outcome: 'duplicate' }, outcome.duplicates);
      const newest = kept.at(-1)!.info.timestampNanos / 1e6;
      this.lag?.set(Math.max(0, (Date.now() - newest) / 1_000));
      this.options.onCounted?.(outcome);
    }
    this.batchSeconds?.observe((performance.now() - started) / 1_000);
  }

  /** The batch's transaction; while PostgreSQL is unreachable, keep the batch and try again. */
  private async applyHoldingBatch(records: UsageRecord[], batch: JsMsg[]): Promise<BatchOutcome | undefined> {
    const { pool, signal, logger } = this.options;
    let holding: NodeJS.Timeout | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await inTransaction(pool, (client) => applyUsageBatch(client, records, this.now()));
        } catch (error) {
          if (!isTransientDatabaseError(error)) {
            logger.error({ err: error, size: batch.length }, 'counting a batch failed; giving it back');
            await Promise.all(batch.map((msg) => this.giveBack(msg, (error as Error).message)));
            return undefined;
          }
          if (signal.aborted) {
            for (const msg of batch) msg.nak();
            this.events?.inc({ outcome: 'retry' }, batch.length);
            return undefined;
          }
          if (!holding && this.ackWaitMs > 0) {
            holding = setInterval(
              () => {
                for (const msg of batch) msg.working();
              },
              Math.max(1_000, Math.floor(this.ackWaitMs / 2)),
            );
          }
          const delay = backoffDelay(attempt, { baseMs: 500, maxMs: 30_000 });
          logger.warn({ err: error, size: batch.length, retryInMs: delay }, 'PostgreSQL unavailable; holding batch');
          await pause(delay, signal);
        }
      }
    } finally {
      clearInterval(holding);
    }
  }

  private async giveBack(msg: JsMsg, reason: string): Promise<void> {
    if (msg.info.deliveryCount >= this.maxDeliver) {
      await this.deadLetter(
        msg,
        `counting failed on delivery ${msg.info.deliveryCount} of ${this.maxDeliver}: ${reason}`,
      );
      return;
    }
    msg.nak(backoffDelay(msg.info.deliveryCount, { baseMs: 1_000, maxMs: 60_000 }));
    this.events?.inc({ outcome: 'retry' });
  }

  private async deadLetter(msg: JsMsg, reason: string): Promise<void> {
    const { js, logger } = this.options;
    let outcome: Outcome = 'dead_lettered';
    try {
      await copyToDeadLetter(js, msg, { consumer: usageConsumer.durable, reason });
      // No reason argument: nats-server 2.9.10 ignores "+TERM <reason>".
      msg.term();
      logger.error({ seq: msg.seq, subject: msg.subject, reason }, 'usage message dead-lettered');
    } catch (error) {
      logger.error({ seq: msg.seq, reason, err: error }, 'could not dead-letter a usage message; will retry');
      msg.nak(backoffDelay(msg.info.deliveryCount, { baseMs: 1_000, maxMs: 60_000 }));
      outcome = 'retry';
    }
    this.events?.inc({ outcome });
  }
}

/**
 * Decode and check a usage message, v1 (one record) or v2 (many); throws ContractViolation for
 * one that breaks its contract. The same checks as `decodeReceived`, with the headers read once
 * and fast (`messageHeaders`).
 */
export function readUsage(msg: JsMsg): UsageRecord[] {
  const headers = messageHeaders(msg);
  const meta = readMeta((name) => headers.get(name) || undefined);
  if (meta.type === UsageRecordedBatch.type) return readBatch(msg);
  if (meta.type !== UsageRecorded.type) {
    throw new ContractViolation('unexpected message type', [
      {
        path: 'ce-type',
        message: `"${meta.type}" on the USAGE stream; expected ${UsageRecorded.type} or ${UsageRecordedBatch.type}`,
      },
    ]);
  }
  const data = decodeData(UsageRecorded, msg.data);
  checkKind(UsageRecorded.type, data.meter, data.kind);
  if (msg.subject !== Subjects.usage(data.tenantId, data.meter)) {
    throw new ContractViolation('usage on the wrong subject', [
      { path: 'subject', message: `${msg.subject} carries usage of ${data.tenantId}/${data.meter}` },
    ]);
  }
  return [
    {
      tenantId: data.tenantId,
      meter: data.meter,
      kind: data.kind,
      value: data.value,
      at: Date.parse(data.at),
      dedupKey: data.dedupKey,
    },
  ];
}

/** A `ttm.usage.recorded.v2` message: its meter's records, on `usage.batch.<producer>.<meter>`. */
function readBatch(msg: JsMsg): UsageRecord[] {
  const { meter, kind, records } = readBatchRecords(msg.data);
  checkKind(UsageRecordedBatch.type, meter, kind);
  const tokens = msg.subject.split('.');
  if (tokens.length !== 4 || msg.subject !== Subjects.usageBatch(tokens[2]!, meter)) {
    throw new ContractViolation('usage on the wrong subject', [
      { path: 'subject', message: `${msg.subject} carries a batch of ${meter}` },
    ]);
  }
  return records;
}

function checkKind(type: string, meter: keyof typeof meterKinds, kind: string): void {
  if (meterKinds[meter] !== kind) {
    throw new ContractViolation(`invalid ${type} payload`, [
      { path: 'kind', message: `${meter} is a ${meterKinds[meter]} meter, not a ${kind}` },
    ]);
  }
}
