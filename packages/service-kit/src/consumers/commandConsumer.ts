import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { ConsumerDefinition } from '@ttm/contracts';
import type { Counter, Histogram, Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import {
  type BackoffPolicy,
  backoffDelay,
  decodeReceived,
  headerCarrier,
  holdWhileWorking,
  openDurableConsumer,
  type ReceivedEvent,
} from '../messaging.js';
import { sharedCounter, sharedHistogram } from '../metrics.js';
import { extractTraceContext } from '../telemetry.js';
import {
  acknowledge,
  type DeadLetterPolicy,
  deadLetter,
  deliveryLimitsOf,
  inConsumerSpan,
  pullUntilStopped,
} from './delivery.js';

/**
 * Handles one command. JetStream delivers at least once (a redelivery after AckWait,
 * an ack lost on the way), so a handler must be idempotent: the same command twice
 * must leave the world as once. Key what it creates on ids from the command
 * (`provisioningId`, `tenantId`), use KV `create()` or database constraints for what
 * must happen once, and append events with optimistic concurrency (`handleCommand`).
 *
 * Throw for what a retry may fix (a dependency is down); the command is redelivered
 * with a growing delay and dead-lettered after the consumer's `max_deliver` attempts.
 * Throw `UnprocessableCommand` for what no retry will fix: it is dead-lettered at once.
 * A command the domain refuses is not an error: record the refusal (an event) and return.
 */
export type CommandHandler = (command: ReceivedEvent) => Promise<void>;

/** Thrown by a handler for a command no retry can help: it goes to the dead letters at once. */
export class UnprocessableCommand extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnprocessableCommand';
  }
}

export interface CommandConsumerOptions {
  js: JetStreamClient;
  /** The service's durable consumer on the COMMANDS work queue. */
  consumer: ConsumerDefinition;
  /** One handler per `ce-type` this service handles. */
  handlers: Record<string, CommandHandler>;
  logger: Logger;
  /** Abort to stop: no new command is taken, those in hand finish, then the promise resolves. */
  signal: AbortSignal;
  /** Commands handled at once; default the consumer's max_ack_pending, at most 16. */
  concurrency?: number;
  /** Redelivery delays after a failed handler; default 1 s doubling up to 60 s, jittered. */
  retry?: BackoffPolicy;
  /** Counts commands by type and outcome, and times handlers. */
  metrics?: Registry;
}

type Outcome = 'handled' | 'retry' | 'dead_lettered' | 'abandoned';

/**
 * Pull a service's commands and run their handlers, each inside the trace context it
 * was sent with. A command that breaks its contract (bad envelope, unknown type, bad
 * payload) or has no handler here is poison: copied to `dlq.COMMANDS.<consumer>` and
 * terminated, which on the work queue removes it. A handler that throws is retried
 * with a growing delay; its last allowed delivery is dead-lettered the same way. If
 * the copy cannot be stored, the command is redelivered rather than lost.
 */
export async function runCommandConsumer(options: CommandConsumerOptions): Promise<void> {
  const { js, consumer: def, signal } = options;
  const logger = options.logger.child({ consumer: `${def.stream}/${def.durable}` });
  const consumer = await openDurableConsumer(js, def, logger, signal);
  if (!consumer) return;
  const limits = await deliveryLimitsOf(consumer, def);
  const worker = new CommandWorker({ ...options, logger }, limits.maxDeliver, limits.ackWaitMs);
  const concurrency = Math.max(1, options.concurrency ?? Math.min(16, limits.maxAckPending));
  logger.info({ concurrency, types: Object.keys(options.handlers) }, 'command consumer started');
  await pullUntilStopped({
    consumer,
    signal,
    logger,
    concurrency,
    noun: 'commands',
    handle: (msg) => worker.handle(msg),
  });
  logger.info('command consumer stopped');
}

class CommandWorker {
  private readonly retry: BackoffPolicy;
  private readonly deadLetters: DeadLetterPolicy;
  private readonly counter: Counter<'consumer' | 'type' | 'outcome'> | undefined;
  private readonly duration: Histogram<'consumer' | 'type'> | undefined;

  constructor(
    private readonly options: CommandConsumerOptions,
    private readonly maxDeliver: number,
    private readonly ackWaitMs: number,
  ) {
    this.retry = options.retry ?? { baseMs: 1_000, maxMs: 60_000 };
    this.deadLetters = {
      js: options.js,
      logger: options.logger,
      durable: options.consumer.durable,
      maxDeliver,
      retry: this.retry,
      noun: 'command',
      deadLetteredLog: 'command dead-lettered',
    };
    if (options.metrics) {
      this.counter = commandCounter(options.metrics);
      this.duration = handlerHistogram(options.metrics);
    }
  }

  /** Never throws: every way out acks, naks or terminates the message. */
  async handle(msg: JsMsg): Promise<void> {
    let type = 'invalid';
    let outcome: Outcome;
    try {
      const result = await this.settle(msg);
      type = result.type ?? type;
      outcome = result.outcome;
    } catch (error) {
      this.options.logger.error({ seq: msg.seq, err: error }, 'command handling failed unexpectedly; redelivering');
      msg.nak(backoffDelay(msg.info.deliveryCount, this.retry));
      outcome = 'retry';
    }
    this.counter?.inc({ consumer: this.options.consumer.durable, type, outcome });
  }

  private async settle(msg: JsMsg): Promise<{ outcome: Outcome; type?: string }> {
    const { logger, handlers } = this.options;
    let command: ReceivedEvent;
    try {
      command = { ...decodeReceived(msg, { kind: 'command' }), maxDeliver: this.maxDeliver };
    } catch (error) {
      return { outcome: await this.deadLetter(msg, `command breaks its contract: ${(error as Error).message}`) };
    }
    const type = command.meta.type;
    const handler = Object.hasOwn(handlers, type) ? handlers[type] : undefined;
    if (!handler) {
      return { type, outcome: await this.deadLetter(msg, `no handler for ${type} on consumer ${msg.info.consumer}`) };
    }

    const stopHolding = holdWhileWorking(msg, this.ackWaitMs);
    const started = performance.now();
    try {
      await inConsumerSpan(
        extractTraceContext(headerCarrier(msg.headers)),
        `process ${command.meta.type}`,
        {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': command.subject,
          'messaging.message.id': command.meta.id,
          'messaging.nats.stream_sequence': command.seq,
          'messaging.nats.delivery_count': command.deliveryCount,
        },
        () => handler(command),
      );
    } catch (error) {
      stopHolding();
      const message = (error as Error).message;
      if (error instanceof UnprocessableCommand) {
        return { type, outcome: await this.deadLetter(msg, `handler refused it for good: ${message}`) };
      }
      if (msg.info.deliveryCount >= this.maxDeliver) {
        const reason = `handler failed on delivery ${msg.info.deliveryCount} of ${this.maxDeliver}: ${message}`;
        return { type, outcome: await this.deadLetter(msg, reason) };
      }
      const delay = backoffDelay(msg.info.deliveryCount, this.retry);
      logger.warn(
        { seq: msg.seq, type, id: command.meta.id, delivery: msg.info.deliveryCount, err: error, retryInMs: delay },
        'command handler failed; will retry',
      );
      msg.nak(delay);
      return { type, outcome: 'retry' };
    } finally {
      this.duration?.observe({ consumer: this.options.consumer.durable, type }, (performance.now() - started) / 1_000);
    }
    stopHolding();
    // The command may come again: handlers are idempotent for exactly this.
    await acknowledge(msg, logger, 'ack not confirmed; the command may be redelivered', { type });
    return { type, outcome: 'handled' };
  }

  private async deadLetter(msg: JsMsg, reason: string): Promise<Outcome> {
    const outcome = await deadLetter(msg, reason, this.deadLetters);
    return outcome === 'dead-lettered' ? 'dead_lettered' : outcome;
  }
}

function commandCounter(registry: Registry): Counter<'consumer' | 'type' | 'outcome'> {
  return sharedCounter(registry, {
    name: 'ttm_commands_total',
    help: 'Commands taken from the work queue, by outcome (handled, retry, dead_lettered, abandoned)',
    labelNames: ['consumer', 'type', 'outcome'],
  });
}

function handlerHistogram(registry: Registry): Histogram<'consumer' | 'type'> {
  return sharedHistogram(registry, {
    name: 'ttm_command_handler_seconds',
    help: 'Time a command handler ran, successful or not',
    labelNames: ['consumer', 'type'],
    buckets: [0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30],
  });
}
