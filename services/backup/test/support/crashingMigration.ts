/**
 * A backup service that kills itself (SIGKILL: no cleanup, no ack) right after the effect of
 * the migration step named by CRASH_AFTER_MIGRATION_STEP and before that step's event.
 */
import { startBackup } from '../../src/backup.js';

const step = process.env.CRASH_AFTER_MIGRATION_STEP;

await startBackup(process.env, {
  hooks: {
    afterMigrationStep: (_migrationId, done) => {
      if (done === step) process.kill(process.pid, 'SIGKILL');
    },
  },
});
