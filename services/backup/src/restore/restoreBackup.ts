import type { DataOf, RestoreBackup, RestoreStep } from '@ttm/contracts';
import type { Placement } from '@ttm/data-plane';
import { clonePlacement, ensureCoreSchema, workspaceSchemaName } from '@ttm/data-plane';
import { isTransientDatabaseError } from '@ttm/service-kit';
import { recordUnarchived } from '../archive/archiveTenant.js';
import { isDataError } from '../artifact/verifyArtifact.js';
import { executeBackupCommand, readBackup } from '../backups/aggregate.js';
import type { BackupState } from '../backups/decider.js';
import type { BackupDeps } from '../deps.js';
import { readTenantInfo } from '../shared/index.js';
import { RestoreRefused, restoreClone, restoreInPlace } from './restoreRows.js';

/**
 * Carry out a `ttm.backup.restore.v1` command: check it, record the start (with where the
 * rows go), restore with progress events, record the end. A redelivery of a finished restore
 * does nothing; of a running one, runs it again (both modes are safe to repeat). A refusal or
 * a failure is recorded as `restore-failed`; only a database that cannot be reached is left
 * to the command's redelivery, until its last delivery.
 */
export async function restoreBackup(
  deps: BackupDeps,
  command: DataOf<typeof RestoreBackup>,
  options: { lastDelivery: boolean },
): Promise<void> {
  const { backupId, restoreId, mode } = command;
  const log = deps.logger.child({ backupId, restoreId, mode });
  let state = await readBackup(deps.js, backupId);
  // In place: the backup's own tenant. A clone: the id asked for, else the restore id.
  const targetTenantId =
    mode === 'in-place'
      ? (state.tenantId ?? command.targetTenantId ?? restoreId)
      : (command.targetTenantId ?? restoreId);
  // In place, the tenant writes are refused from the start to the end of the restore.
  const unfreeze = async () => {
    if (mode === 'in-place' && state.tenantId) await deps.freezes.release(state.tenantId, restoreId);
  };
  const fail = async (reason: string) => {
    log.error({ reason }, 'restore failed');
    deps.metrics.failures.inc({ operation: 'restore' });
    await executeBackupCommand(deps.js, backupId, {
      kind: 'FailRestore',
      restoreId,
      mode,
      targetTenantId,
      reason: reason.slice(0, 2000),
      at: new Date(),
    });
    await unfreeze();
  };

  let restore = state.restores[restoreId];
  if (!restore) {
    if (state.status === 'none') {
      log.warn('restore of an unknown backup: nothing to record it on');
      return;
    }
    let target: Placement;
    try {
      target = await targetOf(deps, state, command, targetTenantId);
    } catch (error) {
      if (!(error instanceof RestoreRefused)) throw error;
      await fail(error.message);
      return;
    }
    ({ state } = await executeBackupCommand(deps.js, backupId, {
      kind: 'StartRestore',
      restoreId,
      mode,
      targetTenantId,
      targetPlacement: target,
      actor: command.actor,
      at: new Date(),
    }));
    restore = state.restores[restoreId];
  }
  if (restore?.status !== 'running' || !restore.targetPlacement || !state.manifest) {
    await unfreeze();
    return;
  }
  if (mode === 'in-place') {
    const frozen = await deps.freezes.acquire(restore.targetTenantId, {
      reason: 'restore',
      operation_id: restoreId,
      since: new Date().toISOString(),
      retry_after_s: deps.freezeRetryAfterS,
    });
    if (!frozen.acquired && frozen.heldBy.reason === 'archive' && !options.lastDelivery) {
      // The archive that recorded the tenant archived is still dropping its schema (a sign-in came
      // right after the record): the redelivered command restores once it has lifted its freeze.
      throw new Error(`archive ${frozen.heldBy.operation_id} of the tenant is finishing; the restore waits for it`);
    }
    if (!frozen.acquired) {
      await fail(
        `the tenant writes are frozen by a ${frozen.heldBy.reason} (${frozen.heldBy.operation_id}); restore once it ends`,
      );
      return;
    }
    await deps.hooks.afterRestoreFrozen?.(restoreId);
  }

  // An archived tenant's restore brings it back: its schema is created again and it is recorded active.
  const tenant = mode === 'in-place' ? await readTenantInfo(deps.js, restore.targetTenantId) : undefined;
  const unarchive = tenant?.status === 'archived' || (tenant !== undefined && tenant.unarchivedBy === restoreId);
  const started = performance.now();
  const request = {
    unarchive,
    backupId,
    manifest: state.manifest,
    targetTenantId: restore.targetTenantId,
    target: restore.targetPlacement,
    batchRows: deps.batchRows,
    progress: async (step: RestoreStep, progress: number) => {
      await executeBackupCommand(deps.js, backupId, {
        kind: 'ProgressRestore',
        restoreId,
        step,
        progress,
        at: new Date(),
      });
    },
  };
  let rows: number;
  try {
    const pool = deps.clusters.poolFor(restore.targetPlacement);
    // The artifact is in the store of the region the backup was taken in.
    const store = deps.stores.of(state.manifest.placement.region);
    if (mode === 'clone') {
      await ensureCoreSchema(pool);
      ({ rows } = await restoreClone(pool, store, request));
    } else {
      ({ rows } = await restoreInPlace(pool, store, request));
    }
  } catch (error) {
    const retry = isTransientDatabaseError(error) && !isDataError(error) && !options.lastDelivery;
    if (retry && !(error instanceof RestoreRefused)) throw error;
    await fail((error as Error).message);
    return;
  }
  if (unarchive) await recordUnarchived(deps, restore.targetTenantId, restoreId, backupId);
  const durationMs = Math.round(performance.now() - started);
  await executeBackupCommand(deps.js, backupId, {
    kind: 'CompleteRestore',
    restoreId,
    rows,
    durationMs,
    at: new Date(),
  });
  await unfreeze();
  deps.metrics.restoreDuration.observe({ mode }, durationMs / 1_000);
  deps.metrics.lastRestore.set({ mode }, durationMs / 1_000);
  deps.metrics.restoreRows.inc(rows);
  log.info(
    {
      rows,
      durationMs,
      rowsPerSecond: Math.round(rows / Math.max(durationMs / 1_000, 0.001)),
      target: restore.targetPlacement,
    },
    'restore completed',
  );
}

/** Where the rows go, or why they cannot. */
async function targetOf(
  deps: BackupDeps,
  state: BackupState,
  command: DataOf<typeof RestoreBackup>,
  targetTenantId: string,
): Promise<Placement> {
  if (state.status !== 'completed') {
    throw new RestoreRefused(`backup ${command.backupId} is ${state.status}; only a completed backup is restored`);
  }
  const tenant = await readTenantInfo(deps.js, state.tenantId);
  const source = state.manifest.placement;
  // A tenant's data stays in the region it is in now; only moving the tenant changes that.
  const home = tenant?.placement?.region ?? source.region;
  const region = command.targetRegion ?? home;
  if (region !== home) {
    throw new RestoreRefused(
      `tenant ${state.tenantId}'s data stays in its region ${home}: a restore into ${region} is refused; move the tenant there first`,
    );
  }
  if (command.mode === 'in-place') {
    if (command.targetTenantId && command.targetTenantId !== state.tenantId) {
      throw new RestoreRefused(`an in-place restore goes to the backup's own tenant ${state.tenantId}; use a clone`);
    }
    const restorable = tenant?.status === 'active' || tenant?.status === 'suspended' || tenant?.status === 'archived';
    if (!tenant?.placement || !restorable) {
      throw new RestoreRefused(
        `tenant ${state.tenantId} is ${tenant?.status ?? 'gone'}; it has no workspace to restore into`,
      );
    }
    return tenant.placement;
  }
  if (targetTenantId === state.tenantId) {
    throw new RestoreRefused('a clone needs a tenant id of its own; restore in place to overwrite the tenant');
  }
  if (await readTenantInfo(deps.js, targetTenantId)) {
    throw new RestoreRefused(`tenant ${targetTenantId} is registered already; clone into a new tenant id`);
  }
  if (region === source.region) {
    const cluster = deps.clusters.cluster(source.region, source.cluster);
    return clonePlacement(cluster, source, workspaceSchemaName(targetTenantId));
  }
  // The tenant was moved since the backup: its clone goes to its new region.
  const cluster = deps.catalog.region(region)?.clusters[0];
  if (!cluster) throw new RestoreRefused(`region ${region} has no cluster to clone into`);
  return clonePlacement(cluster, { ...source, region, cluster: cluster.name }, workspaceSchemaName(targetTenantId));
}
