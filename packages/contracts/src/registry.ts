import { auditEvents } from './audit/events.js';
import { backupCommands } from './backup/commands.js';
import { backupEvents } from './backup/events.js';
import type { CommandDefinition, EventDefinition, MessageDefinition } from './message.js';
import { migrationCommands } from './migration/commands.js';
import { migrationEvents } from './migration/events.js';
import { quotaCommands } from './quota/commands.js';
import { quotaEvents } from './quota/events.js';
import { tenantCommands } from './tenant/commands.js';
import { tenantEvents } from './tenant/events.js';
import { usageEvents } from './usage/events.js';
import { alertEvents, webhookEvents } from './webhook/events.js';

export const eventDefinitions: readonly EventDefinition[] = [
  ...tenantEvents,
  ...auditEvents,
  ...usageEvents,
  ...quotaEvents,
  ...backupEvents,
  ...migrationEvents,
  ...alertEvents,
  ...webhookEvents,
];
export const commandDefinitions: readonly CommandDefinition[] = [
  ...tenantCommands,
  ...quotaCommands,
  ...backupCommands,
  ...migrationCommands,
];
export const messageDefinitions: readonly MessageDefinition[] = [...commandDefinitions, ...eventDefinitions];

const byType = new Map<string, MessageDefinition>(messageDefinitions.map((d) => [d.type, d]));

/** The definition for a `ce-type`, or undefined for a type this build does not know. */
export function definitionOf(type: string): MessageDefinition | undefined {
  return byType.get(type);
}
