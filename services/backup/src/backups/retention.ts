import type { BackupDeps } from '../deps.js';
import { SYSTEM_ACTOR } from '../deps.js';
import { completedBackupsOf, projectionReached } from '../projections/backups.js';
import { selectForDeletion } from '../retention/selectForDeletion.js';
import { deleteBackup } from './deleteBackup.js';

/**
 * Apply the tenant's plan retention after a good backup: wait (briefly) for the projection to
 * hold that backup, list the tenant's good backups, delete what the policy no longer keeps.
 * Returns the ids deleted.
 */
export async function applyRetention(
  deps: BackupDeps,
  options: { tenantId: string; plan: string; justCompleted: { id: string; completedAt: Date; seq: number } },
  now = new Date(),
): Promise<string[]> {
  const plan = deps.catalog.plan(options.plan);
  if (!plan) {
    deps.logger.warn({ tenantId: options.tenantId, plan: options.plan }, 'unknown plan: no retention applied');
    return [];
  }
  await projectionReached(deps.pool, options.justCompleted.seq, 5_000);
  const backups = await completedBackupsOf(deps.pool, options.tenantId);
  const { id, completedAt } = options.justCompleted;
  if (!backups.some((b) => b.id === id)) backups.push({ id, completedAt });
  const policy = plan.backups;
  const doomed = selectForDeletion(backups, policy, now);
  const detail = `plan ${plan.name} keeps the last ${policy.keepLast}, ${policy.keepDaily} daily and ${policy.keepWeekly} weekly backups`;
  const deleted: string[] = [];
  for (const backupId of doomed) {
    if (await deleteBackup(deps, backupId, { reason: 'retention', actor: SYSTEM_ACTOR, detail }))
      deleted.push(backupId);
  }
  if (deleted.length > 0) deps.logger.info({ tenantId: options.tenantId, deleted }, 'retention deleted backups');
  return deleted;
}
