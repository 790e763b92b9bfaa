import type { BackupDeps } from '../deps.js';
import { readTenantInfo } from '../shared/index.js';
import type { BackupStore } from '../store/index.js';
import { backupObjectPrefix } from '../store/index.js';
import { executeBackupCommand, readBackup } from './aggregate.js';
import { type BackupCommand, BackupRuleViolation } from './decider.js';

type DeleteCommand = Extract<BackupCommand, { kind: 'Delete' }>;

/**
 * Record the deletion, then remove the artifacts (every attempt's). In that order: a crash in
 * between leaves an artifact of a deleted backup, which the start-up cleanup removes; the
 * other order could leave a backup listed as good without its artifact. A refused deletion
 * (a running backup, one being restored) is logged and returns false.
 */
export async function deleteBackup(
  deps: BackupDeps,
  backupId: string,
  command: Omit<DeleteCommand, 'kind' | 'at'>,
): Promise<boolean> {
  let tenantId: string | undefined;
  let region: string | undefined;
  const owner = await readBackupOwner(deps, backupId);
  if (owner !== undefined) {
    // An archived tenant's data lives only in its archive backup until it is back.
    const tenant = await readTenantInfo(deps.js, owner);
    if (tenant?.status === 'archived' && tenant.archive?.backupId === backupId) {
      deps.logger.warn({ backupId, tenantId: owner }, 'backup not deleted: it holds an archived tenant');
      return false;
    }
  }
  try {
    const { state } = await executeBackupCommand(deps.js, backupId, { kind: 'Delete', ...command, at: new Date() });
    tenantId = state.tenantId;
    region = state.placement?.region;
  } catch (error) {
    if (!(error instanceof BackupRuleViolation)) throw error;
    deps.logger.warn({ backupId, reason: error.message }, 'backup not deleted');
    return false;
  }
  if (tenantId && region) await removeArtifacts(deps.stores.of(region), backupObjectPrefix(tenantId, backupId));
  deps.logger.info({ backupId, reason: command.reason }, 'backup deleted');
  return true;
}

/** The tenant of the backup, from its events (the source of truth; the projection may lag). */
async function readBackupOwner(deps: BackupDeps, backupId: string): Promise<string | undefined> {
  const state = await readBackup(deps.js, backupId);
  return state.status === 'none' ? undefined : state.tenantId;
}

/** Remove every object under `prefix` but `keep`. */
export async function removeArtifacts(store: BackupStore, prefix: string, keep?: string): Promise<number> {
  let removed = 0;
  for (const object of await store.list(prefix)) {
    if (object.name === keep) continue;
    if (await store.delete(object.name)) removed++;
  }
  return removed;
}
