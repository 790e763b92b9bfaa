import {
  type Consumer,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { ConsumerDefinition } from '@ttm/contracts';
import type pg from 'pg';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { consumerConfigFor } from '../bootstrap.js';
import type { Logger } from '../logger.js';
import {
  type BackoffPolicy,
  backoffDelay,
  copyToDeadLetter,
  decodeReceived,
  headerCarrier,
  openDurableConsumer,
  pause,
  type ReceivedEvent,
} from '../messaging.js';
import { sharedCounter, sharedGauge, sharedHistogram } from '../metrics.js';
import type { NatsConnection } from '../nats.js';
import { inTransaction, isTransientDatabaseError } from '../postgres.js';
import { extractTraceContext } from '../telemetry.js';
import { checkpointTable, ensureCheckpointTable, readCheckpoint } from './checkpoints.js';
import { acknowledge, type DeadLetterPolicy, deliveryLimitsOf, inConsumerSpan, inConsumerSpans } from './delivery.js';
import { ProjectionLead } from './projectionLead.js';
import { inlineParameters, preparedOn, StatementBatch } from './statementBatch.js';

/**
 * A read model kept in a service's own schema, fed from the EVENTS stream through a
 * durable pull consumer whose `max_ack_pending` is twice the largest batch applied in one
 * transaction (one batch commits while the next is delivered); one instance at a time applies
 * it, in stream order.
 */
export interface ProjectionDefinition {
  /** Key of its checkpoint row; also used in logs and metrics. */
  name: string;
  /** The service's schema; holds `projection_checkpoints`. */
  schema: string;
  consumer: ConsumerDefinition;
  /**
   * Apply one event inside the runner's transaction, which holds a whole batch (use only
   * `client`). Throwing rolls the batch back; the others of the batch are applied without
   * it, and it is retried with backoff and dead-lettered after the consumer's `max_deliver` attempts.
   */
  apply(client: pg.PoolClient, event: ReceivedEvent): Promise<void>;
  /**
   * Apply a batch's events at once, giving the same rows as `apply` on each in stream order
   * (`setAppliers` builds both). The runner then calls it once per batch; a throw rolls the
   * batch back and it is split as with `apply`, down to a batch of one.
   */
  applyMany?(client: pg.PoolClient, events: readonly ReceivedEvent[]): Promise<void>;
  /**
   * The event types `apply` does anything with, when it ignores most of what its consumer
   * delivers. A batch of only those is acknowledged without a transaction: the checkpoint stays
   * behind them, and a restart that delivers them again skips them again, so the result is the same.
   */
  handles?: ReadonlySet<string>;
  /**
   * `apply` only writes: it never reads what its queries return (they answer no rows) and passes
   * its SQL as text with `$n` parameters. The runner then sends a whole batch's statements in one
   * round trip, with the checkpoint and the COMMIT.
   */
  writesOnly?: boolean;
  /** Empty the projection's tables for a rebuild (`replayProjection`). */
  reset?(client: pg.PoolClient): Promise<void>;
}

export interface ProjectionLag {
  /** Last stream sequence applied. */
  checkpoint: number;
  /** Last sequence of the whole stream (any subject). */
  streamLastSeq: number;
  /** Messages matching the consumer's filter not yet acknowledged (waiting plus in hand). */
  pending: number;
}

/** How far a projection is behind its stream, for metrics and readiness. */
export async function projectionLag(options: {
  js: JetStreamClient;
  pool: pg.Pool;
  projection: ProjectionDefinition;
}): Promise<ProjectionLag> {
  const { stream, durable } = options.projection.consumer;
  const jsm = await options.js.jetstreamManager(false);
  const [checkpoint, streamInfo, consumerInfo] = await Promise.all([
    readCheckpoint(options.pool, options.projection),
    jsm.streams.info(stream),
    jsm.consumers.info(stream, durable),
  ]);
  return {
    checkpoint,
    streamLastSeq: streamInfo.state.last_seq,
    pending: consumerInfo.num_pending + consumerInfo.num_ack_pending,
  };
}

export interface RunProjectionOptions {
  js: JetStreamClient;
  pool: pg.Pool;
  projection: ProjectionDefinition;
  logger: Logger;
  /** Abort to stop: no new batch is taken, the one in hand is finished, then the promise resolves. */
  signal: AbortSignal;
  /** Called for each event applied, once its batch was committed and acknowledged. */
  onApplied?: (seq: number) => void;
  /** Delays between attempts at an event whose apply fails; default 1 s doubling up to 60 s, jittered. */
  retry?: BackoffPolicy;
  /** Counts events by outcome and exposes the checkpoint. */
  metrics?: Registry;
  /**
   * Test hook: runs after a batch committed and before its acks, with the batch's stream
   * sequences. A throw leaves the batch unacknowledged and rejects `runProjection`, as a crash would.
   */
  beforeAck?: (seqs: readonly number[]) => void | Promise<void>;
  /** How often an instance that does not hold the lead checks whether it can take it; default 1 s. */
  standbyPollMs?: number;
}

/**
 * Apply the events of a projection's durable consumer in batches, each batch in one
 * PostgreSQL transaction together with its checkpoint, then acknowledge the batch: an
 * event at or below the checkpoint (a redelivery, an ack that was lost) is acknowledged
 * without applying, so a crash never applies an event twice or skips one.
 *
 * A batch is what has arrived while the previous one was being applied, up to half the
 * consumer's `max_ack_pending`, so that the next batch is on its way while one commits; every
 * event in hand is kept alive (`working`) until its
 * batch commits. One instance at a time applies a projection (`ProjectionLead`); the others
 * stand by. An instance that takes over first waits out the ack wait, so the events its
 * predecessor held come back, in order, before any later one.
 *
 * - apply throws: the batch rolls back and is split in halves until the event that fails is
 *   alone; the others are applied in order, and that one is tried again after a growing
 *   delay while the events behind it wait, then dead-lettered (`dlq.<stream>.<consumer>`)
 *   once the attempts reach the consumer's `max_deliver`, so the projection moves on;
 * - the event breaks its contract (bad envelope, unknown type, bad payload): dead-letter at once;
 * - PostgreSQL unreachable (connection errors, deadlocks): keep the batch in hand and retry
 *   without spending its deliveries, so an outage never dead-letters good events;
 * - `signal` aborts: finish the batch in hand, give back what arrived after it, then resolve.
 */
export async function runProjection(options: RunProjectionOptions): Promise<void> {
  const { js, pool, projection, signal } = options;
  const { stream, durable } = projection.consumer;
  const logger = options.logger.child({ projection: projection.name, consumer: `${stream}/${durable}` });
  await ensureCheckpointTable(pool, projection.schema);
  const consumer = await openDurableConsumer(js, projection.consumer, logger, signal);
  if (!consumer) return;
  const worker = await ProjectionWorker.create({ ...options, logger, consumer });
  logger.info('projection started');
  for (let attempt = 1; !signal.aborted; attempt++) {
    if (!(await worker.lead(options.standbyPollMs ?? 1_000))) break;
    try {
      const ended = await worker.pullBatches(signal, () => {
        attempt = 1;
      });
      if (ended === 'stopped') break;
      logger.warn('pulling events ended; pulling again');
    } catch (error) {
      if (!(error instanceof LeadLost)) throw error;
      logger.warn('another instance took the lead of this projection while PostgreSQL was unreachable; standing by');
    } finally {
      await worker.release();
    }
    await pause(backoffDelay(attempt, { baseMs: 500, maxMs: 15_000 }), signal);
  }
  logger.info('projection stopped');
}

export interface ReplayProjectionOptions {
  nc: NatsConnection;
  pool: pg.Pool;
  projection: ProjectionDefinition;
  logger: Logger;
  retry?: BackoffPolicy;
}

/**
 * Rebuild a projection from the first event: delete its durable consumer, empty its
 * tables (`reset`) and its checkpoint in one transaction, recreate the consumer with
 * the configuration of `@ttm/contracts`, then apply every event up to the stream's
 * last sequence at the time of the call, exactly as `runProjection` would. Stop the
 * service's runners first: replay refuses to start while one of them holds the lead.
 */
export async function replayProjection(
  options: ReplayProjectionOptions,
): Promise<{ applied: number; lastSeq: number }> {
  const { nc, pool, projection } = options;
  const def = projection.consumer;
  const reset = projection.reset?.bind(projection);
  if (!reset) {
    throw new Error(`projection ${projection.name} has no reset(): it cannot be emptied, so it cannot be rebuilt`);
  }
  const logger = options.logger.child({ projection: projection.name, consumer: `${def.stream}/${def.durable}` });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureCheckpointTable(pool, projection.schema);
  const lead = new ProjectionLead(pool, leadKey(projection));
  if (!(await lead.tryTake())) {
    throw new Error(
      `projection ${projection.name} is being applied by a running instance of its service; stop the service, then replay`,
    );
  }
  try {
    // Consumer first: if emptying fails afterwards, the next runner recreates the consumer
    // from the start and the untouched checkpoint skips what the tables already hold.
    await jsm.consumers.delete(def.stream, def.durable).catch((error: unknown) => {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    });
    await inTransaction(pool, async (client) => {
      await reset(client);
      await client.query(`DELETE FROM ${checkpointTable(projection.schema)} WHERE projection = $1`, [projection.name]);
    });
  } finally {
    await lead.release();
  }
  await jsm.consumers.add(def.stream, consumerConfigFor(def));
  const consumer = await js.consumers.get(def.stream, def.durable);
  const target = (await jsm.streams.info(def.stream)).state.last_seq;
  if ((await consumer.info(true)).num_pending === 0) {
    logger.info({ target }, 'replay: no events to apply');
    return { applied: 0, lastSeq: 0 };
  }

  let applied = 0;
  let lastSeq = 0;
  const done = new AbortController();
  const worker = await ProjectionWorker.create({
    js,
    pool,
    projection,
    logger,
    consumer,
    signal: done.signal,
    ...(options.retry ? { retry: options.retry } : {}),
    onApplied: () => {
      applied++;
    },
    onSettled: (batch) => {
      const last = batch.at(-1);
      if (!last) return;
      lastSeq = last.seq;
      if (last.seq >= target || last.info.pending === 0) done.abort();
    },
    // A fresh consumer: nothing was delivered to anyone before, so there is nothing to wait out.
    freshConsumer: true,
  });
  try {
    if (!(await worker.lead(0))) throw new Error('replay was stopped before it took the lead');
    await worker.pullBatches(done.signal, () => undefined);
  } finally {
    await worker.release();
  }
  if (!done.signal.aborted) {
    throw new Error(
      `replay of ${projection.name} was interrupted after stream sequence ${lastSeq} (NATS connection lost?); replay again`,
    );
  }
  logger.info({ applied, lastSeq, target }, 'replay finished');
  return { applied, lastSeq };
}

type Outcome = 'applied' | 'duplicate' | 'skipped' | 'dead-lettered';

interface WorkerOptions extends Omit<RunProjectionOptions, 'signal' | 'standbyPollMs'> {
  consumer: Consumer;
  signal: AbortSignal;
  /** After each batch was settled (committed and acknowledged). */
  onSettled?: (batch: readonly JsMsg[]) => void;
  /** No instance ever pulled from this consumer: no predecessor's events to wait for. */
  freshConsumer?: boolean;
}

/** One event of a batch, decoded (or not), and what became of it. */
interface Item {
  msg: JsMsg;
  event?: ReceivedEvent;
  /** A type the projection does not handle: it only moves the checkpoint. */
  skip?: boolean;
  /** A second delivery of the item before it in the same batch. */
  copy?: boolean;
  /** Why it is dead-lettered (already copied to the dead letters), if it is. */
  deadReason?: string;
  /** Decided by the transaction that committed it. */
  outcome?: Outcome;
}

/** The lead was lost (PostgreSQL went away, another instance took over): give the batch back. */
class LeadLost extends Error {}
class Stopped extends Error {}

/** What happens to the events of a projection: batches, their transaction, acks, retries and dead letters. */
class ProjectionWorker {
  private readonly table: string;
  private readonly retry: BackoffPolicy;
  private readonly deadLetters: DeadLetterPolicy;
  private readonly events: Counter<'projection' | 'outcome'> | undefined;
  private readonly checkpoint: Gauge<'projection'> | undefined;
  private readonly batches: Histogram<'projection'> | undefined;
  private readonly leadHolder: ProjectionLead;
  /** Events delivered and not yet committed: kept alive until their batch commits. */
  private readonly held = new Set<JsMsg>();
  private readonly batchSize: number;

  private constructor(
    private readonly options: WorkerOptions,
    private readonly maxDeliver: number,
    private readonly ackWaitMs: number,
    /** The consumer's max_ack_pending: events delivered and not yet acknowledged. */
    private readonly window: number,
  ) {
    // Half the window at most in one batch: the other half is delivered while a batch commits.
    this.batchSize = Math.max(1, Math.ceil(window / 2));
    this.table = checkpointTable(options.projection.schema);
    this.retry = options.retry ?? { baseMs: 1_000, maxMs: 60_000 };
    this.deadLetters = {
      js: options.js,
      logger: options.logger,
      durable: options.projection.consumer.durable,
      maxDeliver,
      retry: this.retry,
      noun: 'event',
      deadLetteredLog: 'event dead-lettered; the projection moves on',
    };
    this.leadHolder = new ProjectionLead(options.pool, leadKey(options.projection));
    if (options.metrics) {
      this.events = projectionCounter(options.metrics);
      this.checkpoint = checkpointGauge(options.metrics);
      this.batches = batchHistogram(options.metrics);
    }
  }

  static async create(options: WorkerOptions): Promise<ProjectionWorker> {
    // The server's configuration decides redelivery and the window, so count against it.
    const limits = await deliveryLimitsOf(options.consumer, options.projection.consumer);
    return new ProjectionWorker(options, limits.maxDeliver, limits.ackWaitMs, Math.max(1, limits.maxAckPending));
  }

  /**
   * Take the lead, standing by while another instance holds it; false once `signal` aborts.
   */
  async lead(standbyPollMs: number): Promise<boolean> {
    const { signal, logger } = this.options;
    let waiting = false;
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        if (await this.leadHolder.tryTake()) break;
        if (!waiting) logger.info('another instance applies this projection; standing by');
        waiting = true;
        await pause(standbyPollMs, signal);
      } catch (error) {
        if (!isTransientDatabaseError(error)) throw error;
        const delay = backoffDelay(attempt, { baseMs: 500, maxMs: 30_000 });
        logger.warn(
          { err: error, retryInMs: delay },
          'PostgreSQL unavailable; cannot take the lead of the projection yet',
        );
        await pause(delay, signal);
      }
    }
    if (signal.aborted) {
      await this.leadHolder.release();
      return false;
    }
    return true;
  }

  release(): Promise<void> {
    return this.leadHolder.release();
  }

  /**
   * Pull and settle batches until `signal` aborts ('stopped') or the pull ends ('ended',
   * NATS restarting). On a clean end, what arrived and was not settled is given back in order;
   * on a throw it is left to the ack wait, as a crash would leave it.
   *
   * First deliveries come in stream order, but redeliveries do not (JetStream 2.9 does not
   * sort them). So before the first batch, every event the consumer counts as unacknowledged
   * (left by a previous holder, a lost pull, or given back) is gathered into hand and sorted:
   * none can then arrive behind a later one that was already committed.
   */
  async pullBatches(signal: AbortSignal, onProgress: () => void): Promise<'stopped' | 'ended'> {
    const messages = await this.options.consumer.consume({ max_messages: this.window });
    const arrived: JsMsg[] = [];
    let ended = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      messages.stop();
      wake?.();
    };
    signal.addEventListener('abort', stop, { once: true });
    const reading = (async () => {
      try {
        for await (const msg of messages) {
          arrived.push(msg);
          this.held.add(msg);
          wake?.();
        }
      } catch {
        // The pull failed (connection lost): handled as an end, pulled again by the caller.
      } finally {
        ended = true;
        wake?.();
      }
    })();
    const keepAlive =
      this.ackWaitMs > 0
        ? setInterval(
            () => {
              for (const msg of this.held) msg.working();
            },
            Math.max(100, Math.floor(this.ackWaitMs / 2)),
          )
        : undefined;
    keepAlive?.unref();
    let clean = false;
    try {
      if (!this.options.freshConsumer) {
        await this.gatherUnacknowledged(
          arrived,
          signal,
          () => ended,
          (resolve) => {
            wake = resolve;
          },
        );
        wake = undefined;
      }
      for (;;) {
        if (signal.aborted) {
          clean = true;
          return 'stopped';
        }
        if (arrived.length === 0) {
          if (ended) {
            clean = true;
            return 'ended';
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        const batch = arrived.splice(0, this.batchSize);
        try {
          await this.settle(batch);
        } catch (error) {
          if (error instanceof Stopped || error instanceof LeadLost) {
            arrived.unshift(...batch);
            clean = true;
            if (error instanceof Stopped) return 'stopped';
          }
          throw error;
        }
        onProgress();
        this.options.onSettled?.(batch);
      }
    } finally {
      signal.removeEventListener('abort', stop);
      if (keepAlive) clearInterval(keepAlive);
      messages.stop();
      await reading;
      // In stream order, so that they come back in that order.
      if (clean) for (const msg of arrived) msg.nak();
      this.held.clear();
    }
  }

  /** Wait until every event the consumer counts as unacknowledged is in `arrived`, then sort it. */
  private async gatherUnacknowledged(
    arrived: JsMsg[],
    signal: AbortSignal,
    ended: () => boolean,
    onArrival: (resolve: () => void) => void,
  ): Promise<void> {
    const { logger } = this.options;
    let logged = false;
    while (!signal.aborted && !ended()) {
      // Asked of the server each time: the cached info is what the consumer looked like when it
      // was opened, possibly while the previous holder had events in hand, so it never changes.
      const { num_ack_pending: unacknowledged } = await this.options.consumer.info(false);
      const inHand = new Set(arrived.map((msg) => msg.seq)).size;
      if (unacknowledged <= inHand) break;
      if (!logged) {
        logger.info(
          { unacknowledged, inHand, ackWaitMs: this.ackWaitMs },
          'events delivered before are not acknowledged; waiting for them to come back before applying any',
        );
        logged = true;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        onArrival(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    arrived.sort((a, b) => a.seq - b.seq);
  }

  /** Commit one batch with its checkpoint, then acknowledge it. */
  private async settle(batch: JsMsg[]): Promise<void> {
    const { projection } = this.options;
    // A copy delivered again while the first is still in hand: applied once, both acknowledged.
    batch.sort((a, b) => a.seq - b.seq);
    const items: Item[] = [];
    for (const msg of batch) {
      if (items.length > 0 && items.at(-1)?.msg.seq === msg.seq) {
        items.push({ msg, copy: true });
        continue;
      }
      try {
        items.push({ msg, event: decodeReceived(msg, { kind: 'event' }) });
      } catch (error) {
        const reason = `event breaks its contract: ${(error as Error).message}`;
        await this.copyToDeadLetters(msg, reason);
        items.push({ msg, deadReason: reason });
      }
    }
    const { handles } = projection;
    for (const item of items) {
      if (item.event && handles && !handles.has(item.event.meta.type)) item.skip = true;
    }
    if (items.some((item) => !item.skip && !item.copy)) {
      await this.commit(items);
    } else {
      for (const item of items) item.outcome = item.copy ? 'duplicate' : 'skipped';
    }
    // Committed: from here on a redelivery is skipped, so nothing needs keeping alive.
    for (const msg of batch) this.held.delete(msg);
    await this.options.beforeAck?.(batch.map((msg) => msg.seq));
    await this.acknowledge(items);
    this.count(items);
  }

  /**
   * Apply the items not yet decided in one transaction with the checkpoint; when an apply
   * fails, split the batch so that the others still go through, in order.
   */
  private async commit(items: Item[]): Promise<void> {
    try {
      await this.withLead((client) => this.applyInTransaction(client, items));
      return;
    } catch (error) {
      if (error instanceof Stopped || error instanceof LeadLost) throw error;
      if (items.length > 1) {
        const half = Math.ceil(items.length / 2);
        await this.commit(items.slice(0, half));
        await this.commit(items.slice(half));
        return;
      }
      await this.retryAlone(items[0] as Item, error);
    }
  }

  /** The one event that cannot be applied: try again after a delay, then dead-letter it. */
  private async retryAlone(item: Item, firstError: unknown): Promise<void> {
    const { logger, signal } = this.options;
    let error = firstError;
    for (let attempt = item.msg.info.deliveryCount; ; attempt++) {
      const reason = `apply failed on attempt ${attempt} of ${this.maxDeliver}: ${(error as Error).message}`;
      if (attempt >= this.maxDeliver) {
        await this.copyToDeadLetters(item.msg, reason);
        item.deadReason = reason;
        await this.withLead((client) => this.applyInTransaction(client, [item]));
        return;
      }
      const delay = backoffDelay(attempt, this.retry);
      logger.warn(
        { seq: item.msg.seq, type: item.event?.meta.type, err: error, retryInMs: delay },
        'apply failed; will retry (the events behind it wait)',
      );
      await pause(delay, signal);
      if (signal.aborted) throw new Stopped();
      try {
        await this.withLead((client) => this.applyInTransaction(client, [item]));
        return;
      } catch (next) {
        if (next instanceof Stopped || next instanceof LeadLost) throw next;
        error = next;
      }
    }
  }

  /** Run `work` on the lead's connection; while PostgreSQL is unreachable, wait and take the lead again. */
  private async withLead<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const { logger, signal } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        return await work(this.leadHolder.client);
      } catch (error) {
        if (!isTransientDatabaseError(error)) throw error;
        await this.leadHolder.release(error as Error);
        const delay = backoffDelay(attempt, { baseMs: 500, maxMs: 30_000 });
        logger.warn({ err: error, retryInMs: delay }, 'PostgreSQL unavailable; holding the batch');
        for (;;) {
          await pause(delay, signal);
          if (signal.aborted) throw new Stopped();
          try {
            if (!(await this.leadHolder.tryTake())) throw new LeadLost();
            break;
          } catch (again) {
            if (!isTransientDatabaseError(again)) throw again;
          }
        }
      }
    }
  }

  private async applyInTransaction(client: pg.PoolClient, items: Item[]): Promise<void> {
    const { projection } = this.options;
    try {
      await client.query('BEGIN');
      let last = await this.lockCheckpoint(client);
      if (last === undefined) {
        await client.query(`INSERT INTO ${this.table} (projection, last_seq) VALUES ($1, 0) ON CONFLICT DO NOTHING`, [
          projection.name,
        ]);
        last = (await this.lockCheckpoint(client)) ?? 0;
      }
      let through = last;
      // A write-only projection's statements go to PostgreSQL in one round trip with the checkpoint.
      const statements = projection.writesOnly ? new StatementBatch(preparedOn(client)) : undefined;
      // Decided afresh on each attempt: a rolled-back attempt decided nothing.
      for (const item of items) delete item.outcome;
      const target = statements?.client ?? client;
      const together: Item[] = [];
      for (const item of items) {
        if (item.deadReason !== undefined) item.outcome = 'dead-lettered';
        else if (item.msg.seq <= last || item.copy) item.outcome = 'duplicate';
        else if (item.skip || !item.event) item.outcome = 'skipped';
        if (item.msg.seq > last) through = Math.max(through, item.msg.seq);
        if (item.outcome !== undefined || !item.event) continue;
        const event = item.event;
        if (projection.applyMany) {
          together.push(item);
          continue;
        }
        const { parent, name, attributes } = this.spanOf(item.msg, event);
        await inConsumerSpan(parent, name, attributes, () => projection.apply(target, event));
        item.outcome = 'applied';
      }
      const applyMany = projection.applyMany?.bind(projection);
      if (applyMany && together.length > 0) {
        const events = together.map((item) => item.event as ReceivedEvent);
        await inConsumerSpans(
          together.map((item, i) => this.spanOf(item.msg, events[i] as ReceivedEvent)),
          () => applyMany(target, events),
        );
        for (const item of together) item.outcome = 'applied';
      }
      if (statements && statements.size > 0) {
        await client.query(
          statements.text(
            inlineParameters(`UPDATE ${this.table} SET last_seq = $2, updated_at = now() WHERE projection = $1`, [
              projection.name,
              through,
            ]),
            'COMMIT',
          ),
        );
        preparedOn(client).confirm();
        return;
      }
      if (through > last) {
        await client.query(`UPDATE ${this.table} SET last_seq = $2, updated_at = now() WHERE projection = $1`, [
          projection.name,
          through,
        ]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (projection.writesOnly) {
        // The failure may have come before a PREPARE it counted on: start over with none.
        await client.query('DEALLOCATE ALL').catch(() => undefined);
        preparedOn(client).forget();
      }
      throw error;
    }
  }

  /** The consumer span of one event, in the trace it was published in. */
  private spanOf(msg: JsMsg, event: ReceivedEvent) {
    return {
      parent: extractTraceContext(headerCarrier(msg.headers)),
      name: `project ${event.meta.type}`,
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'process',
        'messaging.destination.name': event.subject,
        'messaging.message.id': event.meta.id,
        'messaging.nats.stream_sequence': event.seq,
        'ttm.projection': this.options.projection.name,
      },
    };
  }

  private async lockCheckpoint(client: pg.PoolClient): Promise<number | undefined> {
    const { rows } = await client.query<{ last_seq: string }>(
      `SELECT last_seq FROM ${this.table} WHERE projection = $1 FOR UPDATE`,
      [this.options.projection.name],
    );
    return rows[0] === undefined ? undefined : Number(rows[0].last_seq);
  }

  /** Copy to the dead letters before the checkpoint passes the event; retried until stored. */
  private async copyToDeadLetters(msg: JsMsg, reason: string): Promise<void> {
    const { logger, signal } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        await copyToDeadLetter(this.options.js, msg, { consumer: this.deadLetters.durable, reason });
        return;
      } catch (error) {
        const delay = backoffDelay(attempt, this.retry);
        logger.error(
          { seq: msg.seq, subject: msg.subject, reason, err: error, retryInMs: delay },
          'could not copy the event to the dead-letter stream (is the DEADLETTER stream there?); the projection waits',
        );
        await pause(delay, signal);
        if (signal.aborted) throw new Stopped();
      }
    }
  }

  /** Ack the batch: the last ack is confirmed, the ones before it ride on the same connection. */
  private async acknowledge(items: Item[]): Promise<void> {
    const { logger } = this.options;
    const last = items.at(-1);
    for (const item of items) {
      if (item.outcome === 'dead-lettered') {
        // No reason argument: nats-server 2.9.10 ignores "+TERM <reason>".
        item.msg.term();
        logger.error(
          { seq: item.msg.seq, subject: item.msg.subject, reason: item.deadReason },
          this.deadLetters.deadLetteredLog,
        );
      } else if (item === last) {
        // Harmless if lost: the redelivery finds the checkpoint past it and is skipped.
        await acknowledge(item.msg, logger, 'ack not confirmed; a redelivery will be skipped');
      } else {
        item.msg.ack();
      }
    }
  }

  private count(items: Item[]): void {
    const name = this.options.projection.name;
    const tally = new Map<Outcome, number>();
    let through = 0;
    for (const item of items) {
      const outcome = item.outcome ?? 'skipped';
      tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
      if (outcome === 'applied') {
        through = item.msg.seq;
        this.options.onApplied?.(item.msg.seq);
      } else if (outcome === 'duplicate') {
        this.options.logger.debug({ seq: item.msg.seq }, 'event already applied (redelivery); acknowledged');
      }
    }
    for (const [outcome, n] of tally) this.events?.inc({ projection: name, outcome }, n);
    if (through > 0) this.checkpoint?.set({ projection: name }, through);
    this.batches?.observe({ projection: name }, items.length);
  }
}

function leadKey(projection: ProjectionDefinition): string {
  return `${projection.schema}.${projection.name}`;
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

function projectionCounter(registry: Registry): Counter<'projection' | 'outcome'> {
  return sharedCounter(registry, {
    name: 'ttm_projection_events_total',
    help: 'Events a projection handled, by outcome (applied, duplicate, skipped, dead-lettered)',
    labelNames: ['projection', 'outcome'],
  });
}

function checkpointGauge(registry: Registry): Gauge<'projection'> {
  return sharedGauge(registry, {
    name: 'ttm_projection_checkpoint',
    help: 'Last stream sequence a projection applied',
    labelNames: ['projection'],
  });
}

function batchHistogram(registry: Registry): Histogram<'projection'> {
  return sharedHistogram(registry, {
    name: 'ttm_projection_batch_events',
    help: 'Events per batch a projection committed in one transaction',
    labelNames: ['projection'],
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
  });
}
