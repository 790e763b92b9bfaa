import { ArchiveTenantWorkspace, CreateBackup, DeleteBackup, RestoreBackup, VerifyBackup } from '@ttm/contracts';
import { type CommandHandler, commandHandlers, on } from '@ttm/service-kit';
import { archiveTenant } from '../archive/archiveTenant.js';
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
  return commandHandlers(
    on(CreateBackup, async (command) => {
      await createBackup(deps, command.data);
    }),
    on(DeleteBackup, async (command) => {
      const data = command.data;
      await deleteBackup(deps, data.backupId, {
        reason: 'operator',
        actor: data.actor,
        ...(data.reason === undefined ? {} : { detail: data.reason }),
      });
    }),
    on(VerifyBackup, async (command) => {
      const data = command.data;
      const state = await readBackup(deps.js, data.backupId);
      if (state.status !== 'completed') {
        deps.logger.warn({ backupId: data.backupId, status: state.status }, 'only a completed backup is verified');
        return;
      }
      await verifyBackup(deps, state, data.verificationId);
    }),
    on(RestoreBackup, async (command) => {
      await restoreBackup(deps, command.data, { lastDelivery: command.deliveryCount >= maxDeliver });
    }),
    on(ArchiveTenantWorkspace, async (command) => {
      await archiveTenant(deps, command.data);
    }),
  );
}
