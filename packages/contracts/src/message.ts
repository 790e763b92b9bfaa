import type { z } from 'zod';

/** A versioned event type: `ttm.<aggregate>.<what-happened>.v<N>`. A breaking change is a new type. */
export interface EventDefinition<S extends z.ZodType = z.ZodType, T extends string = string> {
  kind: 'event';
  type: T;
  aggregate: string;
  description: string;
  schema: S;
}

/** A command: one fixed subject on the COMMANDS work queue, one versioned type. */
export interface CommandDefinition<S extends z.ZodType = z.ZodType, T extends string = string> {
  kind: 'command';
  type: T;
  subject: string;
  description: string;
  schema: S;
}

export type MessageDefinition = EventDefinition | CommandDefinition;

const TYPE_PATTERN = /^ttm\.[a-z]+\.[a-z][a-z-]*\.v[1-9][0-9]*$/;

function checkType(type: string): void {
  if (!TYPE_PATTERN.test(type)) throw new Error(`message type "${type}" must look like ttm.<aggregate>.<name>.v<N>`);
}

export function defineEvent<S extends z.ZodType, const T extends string>(
  def: Omit<EventDefinition<S, T>, 'kind'>,
): EventDefinition<S, T> {
  checkType(def.type);
  return { kind: 'event', ...def };
}

export function defineCommand<S extends z.ZodType, const T extends string>(
  def: Omit<CommandDefinition<S, T>, 'kind'>,
): CommandDefinition<S, T> {
  checkType(def.type);
  return { kind: 'command', ...def };
}

export type DataOf<D extends MessageDefinition> = z.infer<D['schema']>;
