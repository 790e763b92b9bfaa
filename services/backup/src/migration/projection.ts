import {
  Consumers,
  consumerDefinition,
  MigrationCompleted,
  MigrationFailed,
  MigrationSourceRemoved,
  MigrationStarted,
} from '@ttm/contracts';
import { knownMessage, type ProjectionDefinition } from '@ttm/service-kit';
import { BACKUP_SCHEMA } from '../shared/index.js';

/** `backup.migrations` from the migration events: where each stands, and when its source is due for removal. */
export const migrationsProjection: ProjectionDefinition = {
  name: 'migrations',
  schema: BACKUP_SCHEMA,
  consumer: consumerDefinition(Consumers.backupMigrationEvents),
  // Statements keyed by migration, results never read: a batch goes in one round trip.
  writesOnly: true,
  async apply(client, event) {
    const known = knownMessage(event, [MigrationStarted, MigrationCompleted, MigrationSourceRemoved, MigrationFailed]);
    switch (known?.type) {
      case MigrationStarted.type: {
        const e = known.data;
        await client.query(
          `INSERT INTO backup.migrations (migration_id, tenant_id, status, last_seq) VALUES ($1, $2, 'running', $3)
           ON CONFLICT (migration_id) DO NOTHING`,
          [e.migrationId, e.tenantId, event.seq],
        );
        return;
      }
      case MigrationCompleted.type: {
        const e = known.data;
        await client.query(
          `UPDATE backup.migrations SET status = 'completed', source_removal_due_at = $2, last_seq = $3
            WHERE migration_id = $1`,
          [e.migrationId, e.sourceRemovalDueAt, event.seq],
        );
        return;
      }
      case MigrationSourceRemoved.type: {
        const e = known.data;
        await client.query(
          'UPDATE backup.migrations SET source_removed = true, last_seq = $2 WHERE migration_id = $1',
          [e.migrationId, event.seq],
        );
        return;
      }
      case MigrationFailed.type: {
        const e = known.data;
        await client.query(
          `INSERT INTO backup.migrations (migration_id, tenant_id, status, last_seq) VALUES ($1, $2, 'failed', $3)
           ON CONFLICT (migration_id) DO UPDATE SET status = 'failed', last_seq = EXCLUDED.last_seq`,
          [e.migrationId, e.tenantId, event.seq],
        );
        return;
      }
    }
  },
  async reset(client) {
    await client.query('TRUNCATE backup.migrations');
  },
};
