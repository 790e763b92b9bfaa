/**
 * A backup service that kills itself (SIGKILL: no cleanup, no ack) at one step of an archive:
 * `CRASH_AT_ARCHIVE_STEP=backed-up` (backup verified, tenant not yet recorded archived) or
 * `recorded` (recorded archived, workspace schema not yet dropped).
 */
import { startBackup } from '../../src/backup.js';

const crashAt = process.env.CRASH_AT_ARCHIVE_STEP;

await startBackup(process.env, {
  hooks: {
    afterArchiveStep: (_archiveId, step) => {
      if (step === crashAt) process.kill(process.pid, 'SIGKILL');
    },
  },
});
