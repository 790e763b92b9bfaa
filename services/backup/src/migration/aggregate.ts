import type { JetStreamClient } from '@nats-io/jetstream';
import { Subjects } from '@ttm/contracts';
import { defineAggregate, type Loaded } from '@ttm/service-kit';
import { type MigrationCommand, type MigrationEvent, type MigrationState, migrationDecider } from './decider.js';

/** `ce-source` of the migration events (the backup service runs migrations). */
export const MIGRATION_SOURCE = '/ttm/backup';

/** The migration aggregate: load, decide, append with the expected sequence; conflicts reload and retry. */
export const migrationAggregate = defineAggregate({
  subject: Subjects.migrationEvents,
  decider: migrationDecider,
  source: MIGRATION_SOURCE,
});

export function executeMigrationCommand(
  js: JetStreamClient,
  migrationId: string,
  command: MigrationCommand,
  known?: Loaded<MigrationState>,
): Promise<{ state: MigrationState; events: MigrationEvent[]; lastSeq: number }> {
  return migrationAggregate.execute(js, migrationId, command, known);
}

export function readMigration(js: JetStreamClient, migrationId: string): Promise<Loaded<MigrationState>> {
  return migrationAggregate.read(js, migrationId);
}
