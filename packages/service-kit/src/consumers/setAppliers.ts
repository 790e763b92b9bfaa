import type { MessageDefinition } from '@ttm/contracts';
import type { PoolClient } from 'pg';
import type { ReceivedEvent } from '../messaging.js';
import type { HandlerEntry, MessageOf } from './handlerMap.js';

/**
 * Set-based projection appliers: a handler takes every event of one type that a batch can
 * apply at once, and writes them with one statement per table (rows from a JSON array, say)
 * instead of one statement per event.
 *
 * What makes this give the same rows as applying the events one by one, in stream order:
 * the statements of one aggregate's events touch only that aggregate's rows (keyed by its id),
 * so the events of different aggregates commute. A batch is cut into rounds: round k holds
 * each aggregate's k-th event of the batch; rounds run in order, and inside a round the events
 * of one type go to their handler together. No handler ever sees two events of one aggregate.
 */

/** A handler of many events of one type at once; they belong to different aggregates. */
export interface SetHandlerEntry {
  type: string;
  handleMany: (events: ReceivedEvent[], client: PoolClient) => Promise<void>;
}

/** Pair a definition with its set-based handler: `onMany(TenantSuspended, (events, client) => ...)`. */
export function onMany<D extends MessageDefinition>(
  definition: D,
  handleMany: (events: MessageOf<D>[], client: PoolClient) => Promise<void>,
): SetHandlerEntry {
  return {
    type: definition.type,
    handleMany: (events, client) => handleMany(events as MessageOf<D>[], client),
  };
}

/** Appliers for a projection whose statements are keyed by the aggregate (`aggregateOf`, default: the subject). */
export interface SetAppliers {
  types: ReadonlySet<string>;
  /** One event (a batch of one). */
  apply: (client: PoolClient, event: ReceivedEvent) => Promise<void>;
  /** Several events in stream order, as if applied one by one. */
  applyMany: (client: PoolClient, events: readonly ReceivedEvent[]) => Promise<void>;
}

/**
 * A projection's `apply` and `applyMany` from `onMany` (set-based) and `on` (one event at a
 * time) entries; events of other types change nothing.
 */
export function setAppliers(
  entries: readonly (SetHandlerEntry | HandlerEntry<PoolClient>)[],
  aggregateOf: (event: ReceivedEvent) => string = (event) => event.subject,
): SetAppliers {
  const byType = new Map<string, SetHandlerEntry['handleMany']>();
  for (const entry of entries) {
    if (byType.has(entry.type)) throw new Error(`two handlers for ${entry.type}`);
    if ('handleMany' in entry) {
      byType.set(entry.type, entry.handleMany);
    } else {
      const handle = entry.handle;
      byType.set(entry.type, async (events, client) => {
        for (const event of events) await handle(event, client);
      });
    }
  }
  const applyMany = async (client: PoolClient, events: readonly ReceivedEvent[]) => {
    for (const round of rounds(events, aggregateOf)) {
      for (const [type, group] of byTypeInOrder(round)) {
        const handle = byType.get(type);
        if (handle) await handle(group, client);
      }
    }
  };
  return {
    types: new Set(byType.keys()),
    apply: (client, event) => applyMany(client, [event]),
    applyMany,
  };
}

/** Round k: the k-th event of each aggregate, in stream order. */
export function rounds<E>(events: readonly E[], aggregateOf: (event: E) => string): E[][] {
  const seen = new Map<string, number>();
  const result: E[][] = [];
  for (const event of events) {
    const key = aggregateOf(event);
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    const round = result[k];
    if (round) round.push(event);
    else result[k] = [event];
  }
  return result;
}

function byTypeInOrder(round: readonly ReceivedEvent[]): Map<string, ReceivedEvent[]> {
  const groups = new Map<string, ReceivedEvent[]>();
  for (const event of round) {
    const group = groups.get(event.meta.type);
    if (group) group.push(event);
    else groups.set(event.meta.type, [event]);
  }
  return groups;
}
