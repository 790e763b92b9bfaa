import type { JetStreamClient } from '@nats-io/jetstream';
import { definitionOf, encodeMessage } from '@ttm/contracts';
import type { BackoffPolicy } from '../messaging.js';
import { type Decider, foldEvents } from './decider.js';
import { handleCommand, readAggregate, type StoredEvent } from './eventStore.js';

/** An event as a decider sees it: its contract type and its data. */
export interface DomainEvent {
  type: string;
  data: unknown;
}

export interface AggregateDefinition<State, Command, Event extends DomainEvent> {
  /** The aggregate's subject for an id, e.g. `Subjects.tenantEvents`. */
  subject: (id: string) => string;
  decider: Decider<State, Command, Event>;
  /** `ce-source` of the events it appends, e.g. `/ttm/provisioner`. */
  source: string;
  /** Attempts before a conflict is rethrown (default 8), and the delay between them. */
  maxAttempts?: number;
  backoff?: BackoffPolicy;
}

/** The aggregate as its events say, with the sequence the next append expects. */
export interface Loaded<State> {
  state: State;
  lastSeq: number;
}

export interface Executed<State, Event> extends Loaded<State> {
  /** The events this command appended (none for a repeat). */
  events: Event[];
}

export interface Aggregate<State, Command, Event extends DomainEvent> {
  /**
   * Load -> decide -> append with the expected sequence; on a concurrent write reload and
   * decide again (`handleCommand`). `known` skips the first read (a saga that just wrote).
   */
  execute(js: JetStreamClient, id: string, command: Command, known?: Loaded<State>): Promise<Executed<State, Event>>;
  /** Read the aggregate now. */
  read(js: JetStreamClient, id: string): Promise<Loaded<State>>;
  /** Fold events read elsewhere (a projection, a history view). */
  stateOf(events: readonly Pick<StoredEvent, 'type' | 'data'>[]): State;
}

/**
 * The command handler of one aggregate, written once. Stored events become the decider's
 * events as they are: `readAggregate` decoded each against the contract of its `ce-type`, so
 * an event's data is the one its type says (a type the decider does not know reaches its
 * `evolve`, whose default branch ignores it).
 */
export function defineAggregate<State, Command, Event extends DomainEvent>(
  definition: AggregateDefinition<State, Command, Event>,
): Aggregate<State, Command, Event> {
  const { decider, source } = definition;
  const toEvent = (stored: Pick<StoredEvent, 'type' | 'data'>) => ({ type: stored.type, data: stored.data }) as Event;
  return {
    async execute(js, id, command, known) {
      return handleCommand({
        js,
        subject: definition.subject(id),
        decider,
        command,
        ...(known ? { known } : {}),
        ...(definition.maxAttempts === undefined ? {} : { maxAttempts: definition.maxAttempts }),
        ...(definition.backoff ? { backoff: definition.backoff } : {}),
        toEvent,
        encode: (event) => {
          const def = definitionOf(event.type);
          if (!def) throw new Error(`event type ${event.type} is not in the contracts`);
          return encodeMessage(def, event.data, { source, subject: id });
        },
      });
    },
    async read(js, id) {
      const { events, lastSeq } = await readAggregate(js, definition.subject(id));
      return { state: foldEvents(decider, events.map(toEvent)), lastSeq };
    },
    stateOf(events) {
      return foldEvents(decider, events.map(toEvent));
    },
  };
}
