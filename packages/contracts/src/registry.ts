import { auditEvents } from './audit/events.js';
import type { CommandDefinition, EventDefinition, MessageDefinition } from './message.js';
import { tenantCommands } from './tenant/commands.js';
import { tenantEvents } from './tenant/events.js';

export const eventDefinitions: readonly EventDefinition[] = [...tenantEvents, ...auditEvents];
export const commandDefinitions: readonly CommandDefinition[] = [...tenantCommands];
export const messageDefinitions: readonly MessageDefinition[] = [...commandDefinitions, ...eventDefinitions];

const byType = new Map<string, MessageDefinition>(messageDefinitions.map((d) => [d.type, d]));

/** The definition for a `ce-type`, or undefined for a type this build does not know. */
export function definitionOf(type: string): MessageDefinition | undefined {
  return byType.get(type);
}
