import { randomBytes } from 'node:crypto';
import type { BackupManifest, CreateBackup, DataOf } from '@ttm/contracts';
import { pause } from '@ttm/service-kit';
import { takeSnapshot } from '../artifact/snapshot.js';
import type { BackupDeps } from '../deps.js';
import { readTenantInfo } from '../shared/index.js';
import { backupObjectPrefix } from '../store/index.js';
import { executeBackupCommand, readBackup } from './aggregate.js';
import { BackupRuleViolation, type BackupState, type RunningBackup } from './decider.js';
import { removeArtifacts } from './deleteBackup.js';
import { applyRetention } from './retention.js';
import { verifyBackup } from './verifyBackup.js';

/**
 * Carry out a `ttm.backup.create.v1` command, picking up wherever a previous delivery left
 * off: record the start, take the snapshot into the store, record it completed (only now is
 * it good), verify it, then apply the plan's retention, which runs only after a verification
 * that passed, so a bad new backup never costs an old good one.
 */
export async function createBackup(deps: BackupDeps, command: DataOf<typeof CreateBackup>): Promise<BackupState> {
  const { backupId, tenantId } = command;
  let state = await readBackup(deps.js, backupId);
  if (state.status === 'none') state = await start(deps, command);
  let completedSeq: number | undefined;
  if (state.status === 'running') ({ state, completedSeq } = await run(deps, state));
  if (state.status !== 'completed') return state;

  let verification: 'ok' | 'mismatch' | undefined = 'ok';
  if (deps.verifyAfterBackup) {
    // The verification after a backup has the backup's id: a redelivery does not run it twice.
    const earlier = state.lastVerification?.verificationId === backupId ? state.lastVerification.result : undefined;
    verification = (await verifyBackup(deps, state, backupId)) ?? earlier;
  }
  if (verification === 'ok' && state.plan && state.completedAt) {
    await applyRetention(deps, {
      tenantId,
      plan: state.plan,
      justCompleted: { id: backupId, completedAt: new Date(state.completedAt), seq: completedSeq ?? 0 },
    });
  }
  return state;
}

async function start(deps: BackupDeps, command: DataOf<typeof CreateBackup>): Promise<BackupState> {
  const { backupId, tenantId } = command;
  const tenant = await readTenantInfo(deps.js, tenantId);
  const refusal = !tenant
    ? `tenant ${tenantId} is not registered`
    : tenant.status !== 'active' && tenant.status !== 'suspended'
      ? `tenant ${tenantId} is ${tenant.status}; only a provisioned tenant has data to back up`
      : !tenant.placement
        ? `tenant ${tenantId} has no placement`
        : undefined;
  if (refusal || !tenant?.placement) {
    deps.logger.warn({ backupId, tenantId, reason: refusal }, 'backup refused');
    const { state } = await executeBackupCommand(deps.js, backupId, {
      kind: 'Reject',
      backupId,
      tenantId,
      reason: refusal ?? 'no placement',
      at: new Date(),
    });
    return state;
  }
  const { state } = await executeBackupCommand(deps.js, backupId, {
    kind: 'Start',
    data: {
      backupId,
      tenantId,
      trigger: command.trigger,
      actor: command.actor,
      plan: tenant.plan,
      placement: tenant.placement,
    },
    at: new Date(),
  });
  return state;
}

/** Attempts at the snapshot; each writes its own object, so a slow or dead attempt never clobbers another's. */
async function run(deps: BackupDeps, state: RunningBackup): Promise<{ state: BackupState; completedSeq?: number }> {
  const { backupId, tenantId, placement } = state;
  const prefix = backupObjectPrefix(tenantId, backupId);
  const log = deps.logger.child({ backupId, tenantId });
  const store = deps.stores.of(placement.region);
  let lastError: unknown;
  for (let attempt = 1; attempt <= deps.attempts; attempt++) {
    const objectName = `${prefix}${Date.now().toString(36)}-${randomBytes(3).toString('hex')}.ttmb.gz`;
    const started = performance.now();
    let manifest: BackupManifest;
    try {
      const snapshot = await takeSnapshot(
        deps.clusters.poolFor(placement),
        {
          backupId,
          tenantId,
          schema: placement.schema,
          objectName,
          ...pacing(deps.batchRows, deps.backupRowsPerSecond),
        },
        store,
      );
      manifest = {
        format: 'ttm-backup/1',
        tenantId,
        placement,
        schemaVersion: snapshot.schemaVersion,
        tables: snapshot.tables,
        totalRows: snapshot.totalRows,
        totalBytes: snapshot.object.size,
        uncompressedBytes: snapshot.uncompressedBytes,
        objectName,
        store: store.kind,
        snapshotAt: snapshot.snapshotAt,
      };
    } catch (error) {
      lastError = error;
      log.warn({ attempt, of: deps.attempts, err: error }, 'backup attempt failed');
      await store.delete(objectName).catch(() => false);
      if (attempt < deps.attempts) await pause(deps.retryDelayMs * 2 ** (attempt - 1));
      continue;
    }
    await deps.hooks.afterObjectWritten?.(backupId, objectName);

    const durationMs = Math.round(performance.now() - started);
    let result: Awaited<ReturnType<typeof executeBackupCommand>>;
    try {
      result = await executeBackupCommand(deps.js, backupId, {
        kind: 'Complete',
        manifest,
        durationMs,
        at: new Date(),
      });
    } catch (error) {
      // Failed or deleted meanwhile (the stale-backup cleanup gave up on it): this artifact is nobody's.
      if (!(error instanceof BackupRuleViolation)) throw error;
      await removeArtifacts(store, prefix);
      return { state: await readBackup(deps.js, backupId) };
    }
    // Earlier attempts (or a crashed process) may have left artifacts: only the manifest's stays.
    await removeArtifacts(store, prefix, result.state.manifest?.objectName);
    if (result.events.length === 0) return { state: result.state };
    const seconds = durationMs / 1_000;
    deps.metrics.backupDuration.observe({ trigger: state.trigger ?? 'on-demand' }, seconds);
    deps.metrics.backupSize.observe(manifest.totalBytes);
    deps.metrics.backupRows.inc(manifest.totalRows);
    deps.metrics.lastSuccess.set({ tenant: tenantId }, Date.now() / 1_000);
    log.info(
      {
        rows: manifest.totalRows,
        bytes: manifest.totalBytes,
        uncompressedBytes: manifest.uncompressedBytes,
        durationMs,
        rowsPerSecond: Math.round(manifest.totalRows / Math.max(seconds, 0.001)),
        mbPerSecond: Number((manifest.uncompressedBytes / 1e6 / Math.max(seconds, 0.001)).toFixed(2)),
      },
      'backup completed',
    );
    return { state: result.state, completedSeq: result.lastSeq };
  }

  const reason = `${deps.attempts} attempts failed; last: ${(lastError as Error)?.message ?? String(lastError)}`.slice(
    0,
    2000,
  );
  const { state: failed } = await executeBackupCommand(deps.js, backupId, { kind: 'Fail', reason, at: new Date() });
  await removeArtifacts(store, prefix);
  deps.metrics.failures.inc({ operation: 'backup' });
  log.error({ reason }, 'backup failed');
  return { state: failed };
}

/**
 * Batch size and pace of a backup: throttled, it reads small batches often (about 50 a second)
 * rather than large ones with long pauses, so tenant traffic never meets a long full-speed burst.
 */
export function pacing(batchRows: number, rowsPerSecond: number): { batchRows: number; maxRowsPerSecond: number } {
  if (rowsPerSecond <= 0) return { batchRows, maxRowsPerSecond: 0 };
  return {
    batchRows: Math.max(100, Math.min(batchRows, Math.floor(rowsPerSecond / 50))),
    maxRowsPerSecond: rowsPerSecond,
  };
}
