import type { DataOf, MessageDefinition } from '@ttm/contracts';
import type { PoolClient } from 'pg';
import type { ReceivedEvent } from '../messaging.js';

/**
 * Handlers keyed by the contract definitions they handle, so each one receives its message
 * with `data` typed from the definition's schema: no `as DataOf<...>` at the call site.
 * The one narrowing lives here, and it holds because `decodeReceived` validated the data
 * against exactly that definition's schema before any handler runs.
 */

/** A message with its data typed from its definition. */
export type MessageOf<D extends MessageDefinition> = ReceivedEvent<DataOf<D>>;

/** One handler, erased to the shape the runners call; `context` is what the runner passes (a client, ...). */
export interface HandlerEntry<Context = void> {
  type: string;
  handle: (message: ReceivedEvent, context: Context) => Promise<void>;
}

/** Pair a definition with its handler: `on(SuspendTenant, (command) => suspend(command.data))`. */
export function on<D extends MessageDefinition, Context = void>(
  definition: D,
  handle: (message: MessageOf<D>, context: Context) => Promise<void>,
): HandlerEntry<Context> {
  return { type: definition.type, handle: (message, context) => handle(message as MessageOf<D>, context) };
}

/** True when the message is of this definition; narrows its data (it was validated against it on decoding). */
export function isMessage<D extends MessageDefinition>(message: ReceivedEvent, definition: D): message is MessageOf<D> {
  return message.meta.type === definition.type;
}

export interface HandlerMap<Context = void> {
  /** The types handled (a projection's `handles`). */
  types: ReadonlySet<string>;
  /** By `ce-type` (`runCommandConsumer`'s `handlers`). */
  byType: Record<string, (message: ReceivedEvent, context: Context) => Promise<void>>;
  /** Run the handler of the message's type; a type not in the map is left alone (false). */
  dispatch(message: ReceivedEvent, context: Context): Promise<boolean>;
}

/** One map from several `on(...)` entries; a type given twice is a programming error. */
export function handlerMap<Context = void>(...entries: HandlerEntry<Context>[]): HandlerMap<Context> {
  const byType: HandlerMap<Context>['byType'] = {};
  for (const entry of entries) {
    if (Object.hasOwn(byType, entry.type)) throw new Error(`two handlers for ${entry.type}`);
    byType[entry.type] = entry.handle;
  }
  return {
    types: new Set(Object.keys(byType)),
    byType,
    async dispatch(message, context) {
      const handle = Object.hasOwn(byType, message.meta.type) ? byType[message.meta.type] : undefined;
      if (!handle) return false;
      await handle(message, context);
      return true;
    },
  };
}

/** The `handlers` of `runCommandConsumer`, typed from the command definitions. */
export function commandHandlers(...entries: HandlerEntry[]): Record<string, (command: ReceivedEvent) => Promise<void>> {
  const { byType } = handlerMap(...entries);
  return Object.fromEntries(
    Object.entries(byType).map(([type, handle]) => [type, (command: ReceivedEvent) => handle(command, undefined)]),
  );
}

/**
 * A projection's `apply`, typed from the event definitions it handles; events of other types
 * change nothing. `types` may serve as the projection's `handles`.
 */
export function eventAppliers(...entries: HandlerEntry<PoolClient>[]): {
  types: ReadonlySet<string>;
  apply: (client: PoolClient, event: ReceivedEvent) => Promise<void>;
} {
  const map = handlerMap(...entries);
  return {
    types: map.types,
    apply: async (client, event) => {
      await map.dispatch(event, client);
    },
  };
}
