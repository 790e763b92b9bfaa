import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { type CloudEventMeta, type EncodedMessage, Streams } from '@ttm/contracts';
import { type BackoffPolicy, backoffDelay, decodeReceived, pause, publishMessage } from '../messaging.js';
import type { Decider } from './decider.js';

/**
 * Someone else appended to the aggregate since it was read. Reload it, decide
 * again and append with the new sequence (`handleCommand` does exactly that).
 */
export class ConcurrencyConflict extends Error {
  readonly subject: string;
  readonly expectedLastSeq: number;
  /** The subject's actual last sequence, when the server said it. */
  readonly actualLastSeq: number | undefined;
  constructor(subject: string, expectedLastSeq: number, cause?: unknown) {
    const actual = /wrong last sequence: (\d+)/i.exec(cause instanceof Error ? cause.message : '');
    const actualLastSeq = actual ? Number(actual[1]) : undefined;
    super(
      `concurrent write to ${subject}: expected its last sequence to be ${expectedLastSeq}` +
        `${actualLastSeq === undefined ? '' : ` but it is ${actualLastSeq}`}; reload the aggregate and decide again`,
      { cause },
    );
    this.name = 'ConcurrencyConflict';
    this.subject = subject;
    this.expectedLastSeq = expectedLastSeq;
    this.actualLastSeq = actualLastSeq;
  }
}

/** An event as read back from its aggregate subject. */
export interface StoredEvent {
  /** Stream sequence: what the next append expects as `lastSubjectSequence`. */
  seq: number;
  meta: CloudEventMeta;
  data: unknown;
  /** `ce-type`, to switch on. */
  type: string;
}

function isWrongLastSequence(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence;
}

/**
 * Append events to one aggregate subject (`evt.<aggregate>.<id>`), provided its last
 * message is still `expectedLastSeq` (0: the aggregate has no event yet). Each next
 * event is chained on the sequence the previous one got.
 *
 * Not atomic for several events on nats-server 2.9 (no batch publish): a writer that
 * slips in between leaves a prefix appended and the rest refused. The retry then
 * sees that prefix in the state, so `decide` must hold with it (it does when each
 * event records a fact the state then reflects).
 */
export async function appendEvents(
  js: JetStreamClient,
  subject: string,
  events: EncodedMessage[],
  expectedLastSeq: number,
): Promise<{ lastSeq: number }> {
  let lastSeq = expectedLastSeq;
  for (const event of events) {
    try {
      const ack = await publishMessage(js, subject, event, { expect: { lastSubjectSequence: lastSeq } });
      lastSeq = ack.seq;
    } catch (error) {
      if (isWrongLastSequence(error)) throw new ConcurrencyConflict(subject, lastSeq, error);
      throw error;
    }
  }
  return { lastSeq };
}

export interface ReadAggregateOptions {
  /** The stream holding the subject. */
  stream?: string;
  /** How long to wait for a batch of messages the stream said it has. */
  fetchTimeoutMs?: number;
}

/**
 * Every event on exactly `subject`, in stream order, through a short-lived ordered
 * consumer (deleted afterwards). `lastSeq` is 0 when the subject has no event.
 */
export async function readAggregate(
  js: JetStreamClient,
  subject: string,
  options: ReadAggregateOptions = {},
): Promise<{ events: StoredEvent[]; lastSeq: number }> {
  const stream = options.stream ?? Streams.EVENTS;
  const consumer = await js.consumers.get(stream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: 60_000,
  });
  try {
    const events: StoredEvent[] = [];
    let pending = (await consumer.info(true)).num_pending;
    while (pending > 0) {
      let received = 0;
      const batch = await consumer.fetch({
        max_messages: Math.min(pending, 1_000),
        expires: options.fetchTimeoutMs ?? 5_000,
      });
      for await (const msg of batch) {
        received++;
        const event = decodeReceived(msg, { kind: 'event' });
        events.push({ seq: event.seq, meta: event.meta, data: event.data, type: event.meta.type });
        pending = msg.info.pending;
        if (pending === 0) break;
      }
      if (received === 0) {
        throw new Error(`reading ${subject} from stream ${stream}: ${pending} messages announced but none arrived`);
      }
    }
    return { events, lastSeq: events.at(-1)?.seq ?? 0 };
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

export type { Decider } from './decider.js';

export interface HandleCommandOptions<State, Command, Event> {
  js: JetStreamClient;
  /** The aggregate's subject, e.g. `Subjects.tenantEvents(tenantId)`. */
  subject: string;
  decider: Decider<State, Command, Event>;
  command: Command;
  /** Turn a stored event back into the decider's event type. */
  toEvent: (stored: StoredEvent) => Event;
  /** Encode a decided event as a CloudEvent (`encodeMessage` with its definition). */
  encode: (event: Event) => EncodedMessage;
  /** Attempts before a ConcurrencyConflict is rethrown; default 8. */
  maxAttempts?: number;
  /** Delay between attempts; default 20 ms doubling up to 1 s, jittered. */
  backoff?: BackoffPolicy;
  /** The stream holding the subject; default EVENTS. */
  stream?: string;
  /**
   * State and sequence the caller already holds (from its previous command): the first
   * attempt appends on them without reading the aggregate; a conflict falls back to a read.
   * `{ state: initialState(), lastSeq: 0 }` suits a command that creates the aggregate.
   */
  known?: { state: State; lastSeq: number };
}

/**
 * The command handler, written once: read the aggregate, fold `evolve`, `decide`,
 * append with the sequence it was read at. On a concurrent write, reload and decide
 * again after a jittered, growing delay; after `maxAttempts` rethrow the conflict.
 * Errors from `decide` (a refused command) propagate at once.
 */
export async function handleCommand<State, Command, Event>(
  options: HandleCommandOptions<State, Command, Event>,
): Promise<{ events: Event[]; lastSeq: number; state: State }> {
  const { js, subject, decider, command } = options;
  const maxAttempts = options.maxAttempts ?? 8;
  const backoff = options.backoff ?? { baseMs: 20, maxMs: 1_000 };
  for (let attempt = 1; ; attempt++) {
    const stored =
      attempt === 1 && options.known
        ? { lastSeq: options.known.lastSeq, state: options.known.state }
        : await load(options);
    const state = stored.state;
    const events = decider.decide(command, state);
    if (events.length === 0) return { events, lastSeq: stored.lastSeq, state };
    try {
      const { lastSeq } = await appendEvents(js, subject, events.map(options.encode), stored.lastSeq);
      return { events, lastSeq, state: events.reduce((current, event) => decider.evolve(current, event), state) };
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict) || attempt >= maxAttempts) throw error;
      // A stale `known` state is expected to conflict: reload at once instead of backing off.
      if (!(attempt === 1 && options.known)) await pause(backoffDelay(attempt, backoff));
    }
  }
}

async function load<State, Command, Event>(
  options: HandleCommandOptions<State, Command, Event>,
): Promise<{ lastSeq: number; state: State }> {
  const stored = await readAggregate(options.js, options.subject, options.stream ? { stream: options.stream } : {});
  const state = stored.events
    .map(options.toEvent)
    .reduce((current: State, event: Event) => options.decider.evolve(current, event), options.decider.initialState());
  return { lastSeq: stored.lastSeq, state };
}
