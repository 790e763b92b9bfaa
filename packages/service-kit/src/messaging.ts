import {
  type Consumer,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JsMsg,
  type PubAck,
  type StreamExpectations,
} from '@nats-io/jetstream';
import { headers as createHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { type Attributes, SpanKind, trace } from '@opentelemetry/api';
import {
  type CloudEventMeta,
  type ConsumerDefinition,
  ContractViolation,
  decodeData,
  definitionOf,
  type EncodedMessage,
  readMeta,
  Subjects,
} from '@ttm/contracts';
import { consumerConfigFor } from './bootstrap.js';
import type { Logger } from './logger.js';
import { type HeaderCarrier, injectTraceContext, inSpan } from './telemetry.js';

const tracer = trace.getTracer('@ttm/service-kit');

/** NATS message headers as the OpenTelemetry propagators read and write them. */
export function headerCarrier(headers: MsgHdrs | undefined): HeaderCarrier {
  return {
    // MsgHdrs.get answers '' for a missing header; the propagators want undefined.
    get: (name) => headers?.get(name) || undefined,
    set: (name, value) => headers?.set(name, value),
  };
}

/** The headers of an encoded CloudEvent as NATS headers (a fresh object: publishing mutates it). */
export function natsHeadersFrom(record: Record<string, string>): MsgHdrs {
  const result = createHeaders();
  for (const [name, value] of Object.entries(record)) result.set(name, value);
  return result;
}

export interface PublishOptions {
  /** Stream expectations, e.g. `{ lastSubjectSequence }` for optimistic concurrency. */
  expect?: Partial<StreamExpectations>;
  /** How long to wait for the stream's acknowledgement; the JetStream client's default otherwise. */
  timeoutMs?: number;
}

/**
 * Publish a CloudEvent to JetStream with the active trace context in its headers.
 * `ce-id` is the `Nats-Msg-Id`, so publishing the same event again inside the
 * stream's duplicate window answers with the first copy's sequence (`duplicate: true`).
 */
export async function publishMessage(
  js: JetStreamClient,
  subject: string,
  message: EncodedMessage,
  options: PublishOptions = {},
): Promise<PubAck> {
  const attributes: Attributes = {
    'messaging.system': 'nats',
    'messaging.operation.type': 'send',
    'messaging.destination.name': subject,
    'messaging.message.id': message.meta.id,
    'cloudevents.event_type': message.meta.type,
  };
  return inSpan(tracer, `publish ${message.meta.type}`, { kind: SpanKind.PRODUCER, attributes }, async (span) => {
    const headers = natsHeadersFrom(message.headers);
    injectTraceContext(headerCarrier(headers));
    const ack = await js.publish(subject, message.body, {
      headers,
      msgID: message.meta.id,
      ...(options.expect ? { expect: options.expect } : {}),
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
    });
    span.setAttribute('messaging.nats.stream_sequence', ack.seq);
    return ack;
  });
}

/** A CloudEvent taken from a stream, validated against its contract. */
export interface ReceivedEvent<T = unknown> {
  meta: CloudEventMeta;
  data: T;
  /** Stream sequence of the message. */
  seq: number;
  subject: string;
  /** 1 on the first delivery; JetStream counts every redelivery. */
  deliveryCount: number;
  /**
   * The consumer's delivery limit as the server has it (set by the command consumer), so a
   * handler knows its last delivery even when an operator changed `max_deliver`.
   */
  maxDeliver?: number;
}

/**
 * Decode a received message: CloudEvent attributes from its headers, data checked
 * against the definition of its `ce-type`. Throws ContractViolation for a bad
 * envelope, a type this build does not know (or of the wrong kind), or a bad payload.
 */
export function decodeReceived(msg: JsMsg, options: { kind?: 'command' | 'event' } = {}): ReceivedEvent {
  const meta = readMeta((name) => msg.headers?.get(name) || undefined);
  const def = definitionOf(meta.type);
  if (!def) {
    throw new ContractViolation('unknown message type', [
      {
        path: 'ce-type',
        message: `"${meta.type}" is not a type this build knows (deploy the version that defines it)`,
      },
    ]);
  }
  if (options.kind && def.kind !== options.kind) {
    throw new ContractViolation('unexpected message kind', [
      { path: 'ce-type', message: `"${meta.type}" is a ${def.kind}, expected a ${options.kind}` },
    ]);
  }
  return {
    meta,
    data: decodeData(def, msg.data),
    seq: msg.seq,
    subject: msg.subject,
    deliveryCount: msg.info.deliveryCount,
  };
}

/** Headers a dead-lettered copy carries besides the original's. */
export const DeadLetterHeaders = {
  reason: 'ttm-dead-letter-reason',
  originalSubject: 'ttm-original-subject',
  originalSeq: 'ttm-original-seq',
  originalStream: 'ttm-original-stream',
  originalMsgId: 'ttm-original-msg-id',
  consumer: 'ttm-consumer',
  deliveryCount: 'ttm-delivery-count',
} as const;

/**
 * Copy a message to `dlq.<stream>.<consumer>` (the DEADLETTER stream) before it is
 * terminated, with why and where it came from. The original's `Nats-*` headers are
 * dropped (a stored `Nats-Expected-*` header would make this publish fail), and the
 * copy's `Nats-Msg-Id` is derived from the original's position, so copying the same
 * delivery twice stores it once. Throws when the copy is not stored: then do not
 * terminate the original.
 */
export async function copyToDeadLetter(
  js: JetStreamClient,
  msg: JsMsg,
  options: { consumer: string; reason: string },
): Promise<PubAck> {
  const stream = msg.info.stream;
  const copy = createHeaders();
  if (msg.headers) {
    for (const [name, values] of msg.headers) {
      if (name.toLowerCase().startsWith('nats-')) continue;
      for (const value of values) copy.append(name, value);
    }
  }
  const originalMsgId = msg.headers?.get('Nats-Msg-Id');
  if (originalMsgId) copy.set(DeadLetterHeaders.originalMsgId, originalMsgId);
  copy.set(DeadLetterHeaders.reason, oneLine(options.reason));
  copy.set(DeadLetterHeaders.originalSubject, msg.subject);
  copy.set(DeadLetterHeaders.originalSeq, String(msg.seq));
  copy.set(DeadLetterHeaders.originalStream, stream);
  copy.set(DeadLetterHeaders.consumer, options.consumer);
  copy.set(DeadLetterHeaders.deliveryCount, String(msg.info.deliveryCount));
  return js.publish(Subjects.deadLetter(stream, options.consumer), msg.data, {
    headers: copy,
    msgID: `dlq:${stream}:${options.consumer}:${msg.seq}`,
  });
}

/** Header values are one line; keep the reason short enough to read in `nats stream view`. */
function oneLine(text: string): string {
  const flat = text.replace(/[\r\n]+/g, ' ').trim() || 'unknown';
  return flat.length > 1_000 ? `${flat.slice(0, 997)}...` : flat;
}

export interface BackoffPolicy {
  /** Delay before the second attempt; doubles with each attempt. */
  baseMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /**
   * How far below its ceiling a delay may fall: down to base/2 (`full`, the default), or down to
   * half the ceiling (`equal`), so that a series of delays adds up to at least half its ceilings.
   */
  jitter?: 'full' | 'equal';
}

/**
 * Exponential backoff with jitter: a random delay between base/2 (or, with `jitter: 'equal'`,
 * half the ceiling) and the ceiling base * 2^(attempt-1), capped at max. `attempt` counts from 1.
 * Jitter keeps competing writers and redeliveries apart.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const floor = policy.jitter === 'equal' ? ceiling / 2 : Math.min(ceiling, policy.baseMs / 2);
  return Math.round(floor + Math.random() * (ceiling - floor));
}

/**
 * While a long handler runs, tell JetStream every half AckWait that the message is
 * still being worked on, so it is not redelivered to someone else meanwhile.
 * Returns the function that stops the reminders (call it before ack/nak/term).
 */
export function holdWhileWorking(msg: JsMsg, ackWaitMs: number): () => void {
  if (!(ackWaitMs > 0)) return () => undefined;
  const timer = setInterval(() => msg.working(), Math.max(100, Math.floor(ackWaitMs / 2)));
  timer.unref();
  return () => clearInterval(timer);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * The durable pull consumer of a definition. A missing one is created from the
 * definition (as `bootstrapTopology` would); a missing stream is waited for, with a
 * log line saying what to run. Resolves undefined if `signal` aborts first.
 */
export async function openDurableConsumer(
  js: JetStreamClient,
  def: ConsumerDefinition,
  logger: Logger,
  signal: AbortSignal,
): Promise<Consumer | undefined> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    let problem: unknown;
    try {
      return await js.consumers.get(def.stream, def.durable);
    } catch (error) {
      problem = error;
    }
    if (problem instanceof JetStreamApiError && problem.code === JetStreamApiCodes.ConsumerNotFound) {
      try {
        const jsm = await js.jetstreamManager(false);
        await jsm.consumers.add(def.stream, consumerConfigFor(def));
        logger.info(`created the missing durable consumer ${def.stream}/${def.durable}`);
        continue;
      } catch (error) {
        problem = error;
      }
    }
    const delay = backoffDelay(attempt, { baseMs: 1_000, maxMs: 30_000 });
    logger.warn(
      { err: problem, retryInMs: delay },
      `cannot open consumer ${def.stream}/${def.durable}: is stream ${def.stream} there? (npm run bootstrap creates it)`,
    );
    await pause(delay, signal);
  }
  return undefined;
}
