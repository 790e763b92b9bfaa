/**
 * A backup service that kills itself (SIGKILL: no cleanup, no ack) right after a backup's
 * artifact is whole in the store and before its completed event is appended.
 */
import { startBackup } from '../../src/backup.js';

await startBackup(process.env, {
  hooks: {
    afterObjectWritten: () => {
      process.kill(process.pid, 'SIGKILL');
    },
  },
});
