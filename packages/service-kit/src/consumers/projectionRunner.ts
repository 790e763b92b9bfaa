import {
  type Consumer,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { Context } from '@opentelemetry/api';
import type { ConsumerDefinition } from '@ttm/contracts';
import type pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { consumerConfigFor } from '../bootstrap.js';
import type { Logger } from '../logger.js';
import {
  type BackoffPolicy,
  backoffDelay,
  decodeReceived,
  headerCarrier,
  holdWhileWorking,
  openDurableConsumer,
  pause,
  type ReceivedEvent,
} from '../messaging.js';
import type { NatsConnection } from '../nats.js';
import { inTransaction, isTransientDatabaseError } from '../postgres.js';
import { extractTraceContext } from '../telemetry.js';
import { checkpointTable, ensureCheckpointTable, readCheckpoint } from './checkpoints.js';
import {
  acknowledge,
  consumeMessages,
  type DeadLetterPolicy,
  deadLetter,
  deliveryLimitsOf,
  HandlerCrash,
  inConsumerSpan,
  pullUntilStopped,
  sharedMetric,
} from './delivery.js';

/**
 * A read model kept in a service's own schema, fed from the EVENTS stream through a
 * durable pull consumer with `max_ack_pending: 1` (strict stream order even with
 * several instances pulling).
 */
export interface ProjectionDefinition {
  /** Key of its checkpoint row; also used in logs and metrics. */
  name: string;
  /** The service's schema; holds `projection_checkpoints`. */
  schema: string;
  consumer: ConsumerDefinition;
  /**
   * Apply one event inside the runner's transaction (use only `client`). Throwing rolls
   * the event back; it is retried with backoff and dead-lettered after the consumer's
   * `max_deliver` attempts.
   */
  apply(client: pg.PoolClient, event: ReceivedEvent): Promise<void>;
  /**
   * The event types `apply` does anything with, when it ignores most of what its consumer
   * delivers. Others are acknowledged without a transaction: the checkpoint stays behind them,
   * and a restart that delivers them again skips them again, so the result is the same.
   */
  handles?: ReadonlySet<string>;
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
  /** Abort to stop: no new message is taken, the one in hand is finished, then the promise resolves. */
  signal: AbortSignal;
  /** Called after an event was applied and acknowledged. */
  onApplied?: (seq: number) => void;
  /** Redelivery delays after a failed apply; default 1 s doubling up to 60 s, jittered. */
  retry?: BackoffPolicy;
  /** Counts events by outcome and exposes the checkpoint. */
  metrics?: Registry;
  /**
   * Test hook: runs after the transaction committed and before the ack. A throw
   * leaves the message unacknowledged and rejects `runProjection`, as a crash would.
   */
  beforeAck?: (seq: number) => void | Promise<void>;
}

/**
 * Apply the events of a projection's durable consumer, one at a time, each in one
 * PostgreSQL transaction together with its checkpoint: an event at or below the
 * checkpoint (a redelivery, an ack that was lost) is acknowledged without applying,
 * so a crash never applies an event twice or skips one.
 *
 * - apply throws: roll back, redeliver after a growing delay (nak), and after the
 *   consumer's `max_deliver` attempts copy the event to `dlq.<stream>.<consumer>` and
 *   terminate it, so the projection moves on;
 * - the event breaks its contract (bad envelope, unknown type, bad payload): dead-letter at once;
 * - PostgreSQL unreachable (connection errors, deadlocks): keep the event in hand and retry
 *   without spending its deliveries, so an outage never dead-letters good events;
 * - `signal` aborts: finish the event in hand, then resolve.
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
  await pullUntilStopped({
    consumer,
    signal,
    logger,
    concurrency: 1,
    noun: 'events',
    handle: (msg) => worker.handle(msg),
  });
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
 * service's runners first: they pull from the consumer being recreated.
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

  // Consumer first: if emptying fails afterwards, the next runner recreates the consumer
  // from the start and the untouched checkpoint skips what the tables already hold.
  await jsm.consumers.delete(def.stream, def.durable).catch((error: unknown) => {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
  });
  await inTransaction(pool, async (client) => {
    await reset(client);
    await client.query(`DELETE FROM ${checkpointTable(projection.schema)} WHERE projection = $1`, [projection.name]);
  });
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
  });
  await consumeMessages(consumer, done.signal, 1, async (msg) => {
    const outcome = await worker.handle(msg);
    if (outcome === 'abandoned') {
      throw new Error(
        `replay of ${projection.name} stopped at stream sequence ${msg.seq}: the event could not be dead-lettered ` +
          '(is the DEADLETTER stream there?); fix that and replay again',
      );
    }
    if (outcome === 'retry') return;
    lastSeq = msg.seq;
    if (msg.seq >= target || msg.info.pending === 0) done.abort();
  }).catch((error: unknown) => {
    throw error instanceof HandlerCrash ? error.cause : error;
  });
  if (!done.signal.aborted) {
    throw new Error(
      `replay of ${projection.name} was interrupted after stream sequence ${lastSeq} (NATS connection lost?); replay again`,
    );
  }
  logger.info({ applied, lastSeq, target }, 'replay finished');
  return { applied, lastSeq };
}

type Outcome = 'applied' | 'duplicate' | 'skipped' | 'retry' | 'dead-lettered' | 'abandoned' | 'stopped';

interface WorkerOptions extends Omit<RunProjectionOptions, 'signal'> {
  consumer: Consumer;
  signal: AbortSignal;
}

/** What happens to one message: the transaction, the ack, the retries and the dead letter. */
class ProjectionWorker {
  private readonly table: string;
  private readonly retry: BackoffPolicy;
  private readonly deadLetters: DeadLetterPolicy;
  private readonly events: Counter<'projection' | 'outcome'> | undefined;
  private readonly checkpoint: Gauge<'projection'> | undefined;

  private constructor(
    private readonly options: WorkerOptions,
    private readonly maxDeliver: number,
    private readonly ackWaitMs: number,
  ) {
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
    if (options.metrics) {
      this.events = projectionCounter(options.metrics);
      this.checkpoint = checkpointGauge(options.metrics);
    }
  }

  static async create(options: WorkerOptions): Promise<ProjectionWorker> {
    // The server's configuration decides redelivery, so count attempts against it.
    const limits = await deliveryLimitsOf(options.consumer, options.projection.consumer);
    return new ProjectionWorker(options, limits.maxDeliver, limits.ackWaitMs);
  }

  async handle(msg: JsMsg): Promise<Outcome> {
    const outcome = await this.settle(msg);
    this.events?.inc({ projection: this.options.projection.name, outcome });
    return outcome;
  }

  private async settle(msg: JsMsg): Promise<Outcome> {
    const { logger } = this.options;
    let event: ReceivedEvent;
    try {
      event = decodeReceived(msg, { kind: 'event' });
    } catch (error) {
      return this.deadLetter(msg, `event breaks its contract: ${(error as Error).message}`);
    }
    const { handles } = this.options.projection;
    if (handles && !handles.has(event.meta.type)) {
      await this.ack(msg);
      return 'skipped';
    }
    const stopHolding = holdWhileWorking(msg, this.ackWaitMs);
    let outcome: 'applied' | 'duplicate';
    try {
      outcome = await this.applyUntilReachable(event, extractTraceContext(headerCarrier(msg.headers)));
    } catch (error) {
      stopHolding();
      if (error instanceof Stopped) {
        msg.nak();
        return 'stopped';
      }
      const reason = `apply failed on delivery ${msg.info.deliveryCount} of ${this.maxDeliver}: ${(error as Error).message}`;
      if (msg.info.deliveryCount >= this.maxDeliver) return this.deadLetter(msg, reason);
      const delay = backoffDelay(msg.info.deliveryCount, this.retry);
      logger.warn({ seq: msg.seq, type: event.meta.type, err: error, retryInMs: delay }, 'apply failed; will retry');
      msg.nak(delay);
      return 'retry';
    }
    stopHolding();
    await this.options.beforeAck?.(msg.seq);
    await this.ack(msg);
    if (outcome === 'applied') {
      this.checkpoint?.set({ projection: this.options.projection.name }, msg.seq);
      this.options.onApplied?.(msg.seq);
    } else {
      logger.debug({ seq: msg.seq }, 'event already applied (redelivery); acknowledged');
    }
    return outcome;
  }

  /** Apply in a transaction; while PostgreSQL is unreachable, wait and try again. */
  private async applyUntilReachable(event: ReceivedEvent, parent: Context): Promise<'applied' | 'duplicate'> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.applyInTransaction(event, parent);
      } catch (error) {
        if (!isTransientDatabaseError(error)) throw error;
        if (this.options.signal.aborted) throw new Stopped();
        const delay = backoffDelay(attempt, { baseMs: 500, maxMs: 30_000 });
        this.options.logger.warn(
          { seq: event.seq, err: error, retryInMs: delay },
          'PostgreSQL unavailable; holding event',
        );
        await pause(delay, this.options.signal);
      }
    }
  }

  private async applyInTransaction(event: ReceivedEvent, parent: Context): Promise<'applied' | 'duplicate'> {
    const { pool, projection } = this.options;
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      let last = await this.lockCheckpoint(client);
      if (last === undefined) {
        await client.query(`INSERT INTO ${this.table} (projection, last_seq) VALUES ($1, 0) ON CONFLICT DO NOTHING`, [
          projection.name,
        ]);
        last = (await this.lockCheckpoint(client)) ?? 0;
      }
      if (event.seq <= last) {
        await client.query('ROLLBACK');
        return 'duplicate';
      }
      await inConsumerSpan(
        parent,
        `project ${event.meta.type}`,
        {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': event.subject,
          'messaging.message.id': event.meta.id,
          'messaging.nats.stream_sequence': event.seq,
          'ttm.projection': projection.name,
        },
        () => projection.apply(client, event),
      );
      await client.query(`UPDATE ${this.table} SET last_seq = $2, updated_at = now() WHERE projection = $1`, [
        projection.name,
        event.seq,
      ]);
      await client.query('COMMIT');
      return 'applied';
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (isTransientDatabaseError(error)) broken = error as Error;
      throw error;
    } finally {
      // A connection that failed goes away instead of back to the pool.
      client.release(broken);
    }
  }

  private async lockCheckpoint(client: pg.PoolClient): Promise<number | undefined> {
    const { rows } = await client.query<{ last_seq: string }>(
      `SELECT last_seq FROM ${this.table} WHERE projection = $1 FOR UPDATE`,
      [this.options.projection.name],
    );
    return rows[0] === undefined ? undefined : Number(rows[0].last_seq);
  }

  private async ack(msg: JsMsg): Promise<void> {
    // Harmless: the redelivery finds the checkpoint past it and is skipped.
    await acknowledge(msg, this.options.logger, 'ack not confirmed; a redelivery will be skipped');
  }

  private deadLetter(msg: JsMsg, reason: string): Promise<Outcome> {
    return deadLetter(msg, reason, this.deadLetters);
  }
}

class Stopped extends Error {}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

function projectionCounter(registry: Registry): Counter<'projection' | 'outcome'> {
  const name = 'ttm_projection_events_total';
  return sharedMetric(
    registry,
    name,
    () =>
      new Counter({
        name,
        help: 'Events a projection handled, by outcome (applied, duplicate, skipped, retry, dead-lettered, abandoned, stopped)',
        labelNames: ['projection', 'outcome'],
        registers: [registry],
      }),
  );
}

function checkpointGauge(registry: Registry): Gauge<'projection'> {
  const name = 'ttm_projection_checkpoint';
  return sharedMetric(
    registry,
    name,
    () =>
      new Gauge({
        name,
        help: 'Last stream sequence a projection applied',
        labelNames: ['projection'],
        registers: [registry],
      }),
  );
}
