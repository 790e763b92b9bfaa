import type { JetStreamClient } from '@nats-io/jetstream';
import { definitionOf, encodeMessage, Subjects } from '@ttm/contracts';
import { handleCommand, readAggregate } from '@ttm/service-kit';
import { SOURCE } from '../backup/aggregate.js';
import {
  type MigrationCommand,
  type MigrationEvent,
  type MigrationState,
  migrationDecider,
  migrationStateOf,
} from './decider.js';

/** Load the migration, decide, append with the expected sequence; conflicts reload and retry. */
export async function executeMigrationCommand(
  js: JetStreamClient,
  migrationId: string,
  command: MigrationCommand,
  known?: { state: MigrationState; lastSeq: number },
): Promise<{ state: MigrationState; events: MigrationEvent[]; lastSeq: number }> {
  return handleCommand({
    js,
    subject: Subjects.migrationEvents(migrationId),
    decider: migrationDecider,
    command,
    ...(known ? { known } : {}),
    toEvent: (stored) => ({ type: stored.type, data: stored.data }) as MigrationEvent,
    encode: (event: MigrationEvent) => {
      const def = definitionOf(event.type);
      if (!def) throw new Error(`event type ${event.type} is not in the contracts`);
      return encodeMessage(def, event.data, { source: SOURCE, subject: migrationId });
    },
  });
}

export async function readMigration(
  js: JetStreamClient,
  migrationId: string,
): Promise<{ state: MigrationState; lastSeq: number }> {
  const { events, lastSeq } = await readAggregate(js, Subjects.migrationEvents(migrationId));
  return { state: migrationStateOf(events.map((e) => ({ type: e.type, data: e.data }) as MigrationEvent)), lastSeq };
}
