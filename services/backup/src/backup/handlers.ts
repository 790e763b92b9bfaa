import { CreateBackup, type DataOf, DeleteBackup, RestoreBackup, VerifyBackup } from '@ttm/contracts';
import type { CommandHandler } from '@ttm/service-kit';
import type { BackupDeps } from '../deps.js';
import { restoreBackup } from '../restore/restoreBackup.js';
import { readBackup } from './aggregate.js';
import { deleteBackup } from './deleteBackup.js';
import { createBackup } from './takeBackup.js';
import { verifyBackup } from './verifyBackup.js';

/**
 * The backup service's command handlers, by command type. Each is idempotent: the backup's
 * events decide what is left to do, so a redelivery only finishes the job.
 */
export function backupCommandHandlers(deps: BackupDeps, maxDeliver: number): Record<string, CommandHandler> {
  return {
    [CreateBackup.type]: async (command) => {
      await createBackup(deps, command.data as DataOf<typeof CreateBackup>);
    },
    [DeleteBackup.type]: async (command) => {
      const data = command.data as DataOf<typeof DeleteBackup>;
      await deleteBackup(deps, data.backupId, {
        reason: 'operator',
        actor: data.actor,
        ...(data.reason === undefined ? {} : { detail: data.reason }),
      });
    },
    [VerifyBackup.type]: async (command) => {
      const data = command.data as DataOf<typeof VerifyBackup>;
      const state = await readBackup(deps.js, data.backupId);
      if (state.status !== 'completed') {
        deps.logger.warn({ backupId: data.backupId, status: state.status }, 'only a completed backup is verified');
        return;
      }
      await verifyBackup(deps, state, data.verificationId);
    },
    [RestoreBackup.type]: async (command) => {
      await restoreBackup(deps, command.data as DataOf<typeof RestoreBackup>, {
        lastDelivery: command.deliveryCount >= maxDeliver,
      });
    },
  };
}
