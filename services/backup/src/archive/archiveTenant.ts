import {
  ArchiveTenant,
  type ArchiveTenantWorkspace,
  type DataOf,
  encodeMessage,
  TenantArchived,
  TenantUnarchived,
  UnarchiveTenant,
} from '@ttm/contracts';
import { closeTenantWrites, inTransaction, openTenantWrites, type Placement } from '@ttm/data-plane';
import { backoffDelay, knownMessage, pause, publishMessage } from '@ttm/service-kit';
import { executeBackupCommand, readBackup } from '../backups/aggregate.js';
import type { BackupState } from '../backups/decider.js';
import { createBackup } from '../backups/takeBackup.js';
import { verifyBackup } from '../backups/verifyBackup.js';
import type { BackupDeps } from '../deps.js';
import { readTenantInfoAt } from '../shared/index.js';

type Command = DataOf<typeof ArchiveTenantWorkspace>;

/**
 * The CloudEvents source of the commands the archive saga sends the provisioner. Their ids
 * (`record-archive/…`, `record-unarchive/…`) differ from those of the commands that started the
 * archive or restore: one COMMANDS stream deduplicates them all by `Nats-Msg-Id`.
 */
const ARCHIVE_SOURCE = '/ttm/backup';

export type ArchiveOutcome = 'archived' | 'kept' | 'refused';

/**
 * Carry out a `ttm.backup.archive-tenant.v1` command, picking up wherever an earlier delivery
 * left off (each step is safe to run again):
 *
 *   freeze writes → back up (backup id = archive id) → verify → the provisioner records
 *   `ttm.tenant.archived.v1` → drop the workspace schema, workspace INACTIVE → lift the freeze
 *
 * Until the tenant is recorded archived it is live (a failed backup or verification lifts the
 * freeze and keeps it); from then on its verified backup holds every write it acknowledged
 * (writes were frozen at the database before the snapshot), so dropping the schema loses
 * nothing and a restore brings it back. A crash at any point leaves one of the two.
 */
export async function archiveTenant(deps: BackupDeps, command: Command): Promise<ArchiveOutcome> {
  const { archiveId, tenantId } = command;
  const log = deps.logger.child({ archiveId, tenantId });
  const { info } = await readTenantInfoAt(deps.js, tenantId);
  if (info?.status === 'archived') {
    if (info.archive?.archiveId !== archiveId) {
      return refuse(deps, command, `tenant ${tenantId} is archived already (archive ${info.archive?.archiveId})`);
    }
    // Recorded archived: finish the drop an earlier delivery may not have reached.
    await dropWorkspace(deps, tenantId, info.placement, archiveId);
    return 'archived';
  }
  const refusal = !info
    ? `tenant ${tenantId} is not registered`
    : info.status !== 'active'
      ? `tenant ${tenantId} is ${info.status}; only an active tenant is archived`
      : !info.placement
        ? `tenant ${tenantId} has no placement`
        : undefined;
  if (refusal || !info?.placement) return refuse(deps, command, refusal ?? 'no placement');
  const placement = info.placement;

  const frozen = await deps.freezes.acquire(tenantId, {
    reason: 'archive',
    operation_id: archiveId,
    since: new Date().toISOString(),
    retry_after_s: deps.freezeRetryAfterS,
  });
  if (!frozen.acquired) {
    return refuse(
      deps,
      command,
      `the tenant writes are frozen by a ${frozen.heldBy.reason} (${frozen.heldBy.operation_id}); archive once it ends`,
    );
  }
  // The database refuses the tenant's writes from here, and every write in progress has ended:
  // the snapshot holds every write that was acknowledged.
  await closeTenantWrites(deps.clusters.poolFor(placement), tenantId, {
    operationId: archiveId,
    reason: 'archive',
    retryAfterS: deps.freezeRetryAfterS,
  });

  const backup = await verifiedBackup(deps, command);
  if (!backup.ok) {
    log.error({ reason: backup.reason }, 'archive abandoned: the tenant stays live');
    await reopen(deps, tenantId, placement, archiveId);
    return 'kept';
  }
  await deps.hooks.afterArchiveStep?.(archiveId, 'backed-up');

  const recorded = await recordArchived(deps, command);
  if (!recorded) {
    log.warn('the provisioner refused the archive (the tenant changed meanwhile): it stays live');
    await reopen(deps, tenantId, placement, archiveId);
    return 'kept';
  }
  await deps.hooks.afterArchiveStep?.(archiveId, 'recorded');
  await dropWorkspace(deps, tenantId, placement, archiveId);
  log.info({ backupId: archiveId, placement }, 'tenant archived');
  return 'archived';
}

/** An archive that cannot start is recorded on its backup (the operation the caller follows). */
async function refuse(deps: BackupDeps, command: Command, reason: string): Promise<ArchiveOutcome> {
  deps.logger.warn({ archiveId: command.archiveId, tenantId: command.tenantId, reason }, 'archive refused');
  await executeBackupCommand(deps.js, command.archiveId, {
    kind: 'Reject',
    backupId: command.archiveId,
    tenantId: command.tenantId,
    reason,
    at: new Date(),
  });
  return 'refused';
}

/** The archive's backup, taken (or found) and verified whatever `BACKUP_VERIFY_AFTER_BACKUP` says. */
async function verifiedBackup(
  deps: BackupDeps,
  command: Command,
): Promise<{ ok: true; state: BackupState } | { ok: false; reason: string }> {
  const { archiveId: backupId, tenantId } = command;
  let state = await readBackup(deps.js, backupId);
  if (state.status !== 'completed') {
    state = await createBackup(deps, {
      backupId,
      tenantId,
      trigger: 'archive',
      actor: command.actor,
      requestedAt: command.requestedAt,
    });
  }
  if (state.status !== 'completed') return { ok: false, reason: `the backup is ${state.status}` };
  if (state.lastVerification?.verificationId !== backupId) {
    await verifyBackup(deps, state, backupId);
    state = await readBackup(deps.js, backupId);
  }
  if (state.status !== 'completed') return { ok: false, reason: `the backup is ${state.status}` };
  const result = state.lastVerification?.verificationId === backupId ? state.lastVerification.result : undefined;
  if (result !== 'ok') return { ok: false, reason: `the verification of the backup found ${result ?? 'nothing'}` };
  return { ok: true, state };
}

/** How long the saga waits for the provisioner to record a change before leaving it to the redelivery. */
const RECORD_WAIT_MS = 30_000;

/**
 * Ask the provisioner (the tenant's one writer) to record the archive and wait for the event.
 * False when the tenant is no longer active (suspended meanwhile): the provisioner refused.
 */
async function recordArchived(deps: BackupDeps, command: Command): Promise<boolean> {
  const { archiveId, tenantId } = command;
  const message = encodeMessage(
    ArchiveTenant,
    { tenantId, archiveId, backupId: archiveId, reason: command.reason, actor: command.actor },
    { source: ARCHIVE_SOURCE, subject: tenantId, id: `record-archive/${archiveId}` },
  );
  await publishMessage(deps.js, ArchiveTenant.subject, message);
  const outcome = await awaitTenant(deps, tenantId, (info, events) => {
    if (events.some((e) => knownMessage(e, [TenantArchived])?.data.archiveId === archiveId)) return true;
    return info?.status === 'active' ? undefined : false;
  });
  if (outcome === undefined) {
    throw new Error(
      `the provisioner has not recorded archive ${archiveId} yet; retried with the command (is the provisioner running?)`,
    );
  }
  return outcome;
}

/** Ask the provisioner to record that restore `restoreId` brought the archived tenant back. */
export async function recordUnarchived(
  deps: BackupDeps,
  tenantId: string,
  restoreId: string,
  backupId: string,
): Promise<void> {
  const message = encodeMessage(
    UnarchiveTenant,
    { tenantId, restoreId, backupId },
    { source: ARCHIVE_SOURCE, subject: tenantId, id: `record-unarchive/${restoreId}` },
  );
  await publishMessage(deps.js, UnarchiveTenant.subject, message);
  const done = await awaitTenant(deps, tenantId, (_info, events) =>
    events.some((e) => knownMessage(e, [TenantUnarchived])?.data.restoreId === restoreId) ? true : undefined,
  );
  if (!done) {
    throw new Error(
      `the provisioner has not recorded restore ${restoreId} of the archived tenant yet; retried with the command`,
    );
  }
}

/** Poll the tenant's events until `settled` says true or false; undefined after the wait. */
async function awaitTenant(
  deps: BackupDeps,
  tenantId: string,
  settled: (
    info: Awaited<ReturnType<typeof readTenantInfoAt>>['info'],
    events: Awaited<ReturnType<typeof readTenantInfoAt>>['events'],
  ) => boolean | undefined,
): Promise<boolean | undefined> {
  const deadline = Date.now() + RECORD_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    const { info, events } = await readTenantInfoAt(deps.js, tenantId);
    const outcome = settled(info, events);
    if (outcome !== undefined) return outcome;
    if (Date.now() >= deadline) return undefined;
    await pause(backoffDelay(attempt, { baseMs: 20, maxMs: 1_000 }));
  }
}

/**
 * Drop the tenant's workspace schema and mark its workspace INACTIVE, as Twenty does for an
 * inactive workspace, in one transaction under the tenant's lock (the one a restore takes); its
 * `core` rows stay (users sign in with them; a restore reloads them anyway). Idempotent.
 * A dedicated database keeps its `core` schema and loses its workspace schema.
 */
async function dropWorkspace(
  deps: BackupDeps,
  tenantId: string,
  placement: Placement | undefined,
  archiveId: string,
): Promise<void> {
  if (placement) {
    const pool = deps.clusters.poolFor(placement);
    await inTransaction(pool, async (client) => {
      await client.query(`SET LOCAL lock_timeout TO '30s'`);
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [tenantId]);
      await client.query(`DROP SCHEMA IF EXISTS "${placement.schema.replaceAll('"', '""')}" CASCADE`);
      await client.query(`UPDATE core.workspace SET "activationStatus" = 'INACTIVE' WHERE id = $1`, [tenantId]);
    });
  }
  await reopen(deps, tenantId, placement, archiveId);
}

/** Lift what the archive closed: the database gate, then the freeze gateways watch. */
async function reopen(
  deps: BackupDeps,
  tenantId: string,
  placement: Placement | undefined,
  archiveId: string,
): Promise<void> {
  if (placement) await openTenantWrites(deps.clusters.poolFor(placement), tenantId, archiveId);
  await deps.freezes.release(tenantId, archiveId);
}
