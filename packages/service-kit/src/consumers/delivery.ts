import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { type Attributes, type Context, context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ConsumerDefinition } from '@ttm/contracts';
import type { Logger } from '../logger.js';
import { type BackoffPolicy, backoffDelay, copyToDeadLetter, pause } from '../messaging.js';
import { inSpan } from '../telemetry.js';

/**
 * The runs every JetStream consumer loop of this package shares: how many deliveries a
 * message gets, its dead letter, its ack, its span, and the pull loop that survives a
 * NATS restart. The command consumer and the projection runner differ only in what they
 * do with one message.
 */

const tracer = trace.getTracer('@ttm/service-kit');

/** Redelivery bounds as the server has them (its configuration wins over the definition's). */
export interface DeliveryLimits {
  maxDeliver: number;
  ackWaitMs: number;
  maxAckPending: number;
}

export async function deliveryLimitsOf(consumer: Consumer, def: ConsumerDefinition): Promise<DeliveryLimits> {
  const { config } = await consumer.info(true);
  const configured = config.max_deliver ?? -1;
  return {
    maxDeliver: configured > 0 ? configured : def.maxDeliver,
    ackWaitMs: Math.round((config.ack_wait ?? 0) / 1_000_000),
    maxAckPending: config.max_ack_pending ?? def.maxAckPending,
  };
}

export interface DeadLetterPolicy {
  js: JetStreamClient;
  logger: Logger;
  /** The durable name: the dead letter goes to `dlq.<stream>.<durable>`. */
  durable: string;
  maxDeliver: number;
  retry: BackoffPolicy;
  /** "command" or "event", for the log lines. */
  noun: string;
  /** Logged once the message is dead-lettered. */
  deadLetteredLog: string;
}

export type DeadLetterOutcome = 'dead-lettered' | 'retry' | 'abandoned';

/**
 * Copy the message to the dead letters, then terminate it (on a work queue that removes it).
 * If the copy cannot be stored the message is redelivered rather than lost; on its last
 * delivery only the max-deliveries advisory records it ('abandoned').
 */
export async function deadLetter(msg: JsMsg, reason: string, policy: DeadLetterPolicy): Promise<DeadLetterOutcome> {
  const { js, logger } = policy;
  try {
    await copyToDeadLetter(js, msg, { consumer: policy.durable, reason });
  } catch (error) {
    const last = msg.info.deliveryCount >= policy.maxDeliver;
    logger.error(
      { seq: msg.seq, subject: msg.subject, reason, err: error },
      last
        ? `could not copy the ${policy.noun} to the dead-letter stream on its last delivery; only the max-deliveries advisory records it`
        : `could not copy the ${policy.noun} to the dead-letter stream; will retry`,
    );
    msg.nak(backoffDelay(msg.info.deliveryCount, policy.retry));
    return last ? 'abandoned' : 'retry';
  }
  // No reason argument: nats-server 2.9.10 ignores "+TERM <reason>" (measured: the message stays and comes again).
  msg.term();
  logger.error({ seq: msg.seq, subject: msg.subject, reason }, policy.deadLetteredLog);
  return 'dead-lettered';
}

/** Acknowledge and wait for the server; a lost ack only means a redelivery, which handlers absorb. */
export async function acknowledge(msg: JsMsg, logger: Logger, lostAckLog: string, fields: object = {}): Promise<void> {
  try {
    await msg.ackAck();
  } catch (error) {
    logger.warn({ seq: msg.seq, ...fields, err: error }, lostAckLog);
  }
}

/** Run `work` in a consumer span that continues the trace the message was published in. */
export async function inConsumerSpan(
  parent: Context,
  name: string,
  attributes: Attributes,
  work: () => Promise<void>,
): Promise<void> {
  await context.with(parent, () => inSpan(tracer, name, { kind: SpanKind.CONSUMER, attributes }, work));
}

/**
 * Run `work` once for several messages handled together, each message with its own consumer
 * span in the trace it was published in (a set-based batch keeps every trace whole); the spans
 * cover the shared work and carry its error.
 */
export async function inConsumerSpans(
  messages: readonly { parent: Context; name: string; attributes: Attributes }[],
  work: () => Promise<void>,
): Promise<void> {
  const spans = messages.map(({ parent, name, attributes }) =>
    tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent),
  );
  try {
    await work();
  } catch (error) {
    for (const span of spans) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    }
    throw error;
  } finally {
    for (const span of spans) span.end();
  }
}

/** An error thrown while handling a message (not while pulling): it ends the loop. */
export class HandlerCrash extends Error {
  constructor(override readonly cause: unknown) {
    super('message handler failed');
  }
}

/**
 * Pull up to `concurrency` messages and handle them side by side (1: strictly in order).
 * When `signal` aborts, stop pulling, give back (nak) what arrived but was not started, and
 * wait for the messages in hand. A handler that throws ends the pull with a HandlerCrash.
 */
export async function consumeMessages(
  consumer: Consumer,
  signal: AbortSignal,
  concurrency: number,
  handle: (msg: JsMsg) => Promise<unknown>,
): Promise<void> {
  if (signal.aborted) return;
  const messages = await consumer.consume({ max_messages: concurrency });
  const stop = () => messages.stop();
  signal.addEventListener('abort', stop, { once: true });
  const inFlight = new Set<Promise<void>>();
  let crash: HandlerCrash | undefined;
  try {
    for await (const msg of messages) {
      if (signal.aborted) {
        msg.nak();
        continue;
      }
      const task: Promise<void> = handle(msg)
        .then(
          () => undefined,
          (error: unknown) => {
            crash ??= new HandlerCrash(error);
          },
        )
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (crash) throw crash;
    }
  } finally {
    signal.removeEventListener('abort', stop);
    messages.stop();
    await Promise.allSettled(inFlight);
  }
  if (crash) throw crash;
}

export interface PullLoopOptions {
  consumer: Consumer;
  signal: AbortSignal;
  logger: Logger;
  concurrency: number;
  /** "commands" or "events", for the log lines. */
  noun: string;
  handle: (msg: JsMsg) => Promise<unknown>;
}

/**
 * Pull until `signal` aborts. A pull that ends or fails (NATS restarting, connection closed)
 * is opened again after a growing delay; a handler that throws ends the loop with its error.
 */
export async function pullUntilStopped(options: PullLoopOptions): Promise<void> {
  const { consumer, signal, logger, noun } = options;
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      await consumeMessages(consumer, signal, options.concurrency, (msg) => {
        attempt = 1;
        return options.handle(msg);
      });
      if (signal.aborted) break;
      logger.warn(`pulling ${noun} ended; pulling again`);
    } catch (error) {
      if (error instanceof HandlerCrash) throw error.cause;
      logger.warn({ err: error }, `pulling ${noun} failed; pulling again`);
    }
    await pause(backoffDelay(attempt, { baseMs: 500, maxMs: 15_000 }), signal);
  }
}
