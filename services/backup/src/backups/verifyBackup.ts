import { verifyArtifact } from '../artifact/verifyArtifact.js';
import type { BackupDeps } from '../deps.js';
import { executeBackupCommand } from './aggregate.js';
import type { BackupState } from './decider.js';

/**
 * Verify a good backup and record the result (once per verification id). Returns the
 * result, or undefined when there was nothing to verify (not completed, deleted, done).
 */
export async function verifyBackup(
  deps: BackupDeps,
  state: BackupState,
  verificationId: string,
): Promise<'ok' | 'mismatch' | undefined> {
  if (state.status !== 'completed' || state.verifications.includes(verificationId)) {
    return undefined;
  }
  const manifest = state.manifest;
  const started = performance.now();
  const outcome = await verifyArtifact(
    deps.clusters.poolFor(manifest.placement),
    deps.stores.of(manifest.placement.region),
    manifest,
    {
      backupId: state.backupId,
      verificationId,
      batchRows: deps.batchRows,
    },
  );
  const { events } = await executeBackupCommand(deps.js, state.backupId, {
    kind: 'RecordVerification',
    verificationId,
    ...outcome,
    durationMs: Math.round(performance.now() - started),
    at: new Date(),
  });
  if (events.length > 0) {
    deps.metrics.verificationOk.set({ tenant: manifest.tenantId }, outcome.result === 'ok' ? 1 : 0);
    if (outcome.result !== 'ok') deps.metrics.failures.inc({ operation: 'verification' });
    const log = outcome.result === 'ok' ? deps.logger.info.bind(deps.logger) : deps.logger.error.bind(deps.logger);
    log(
      {
        backupId: state.backupId,
        verificationId,
        result: outcome.result,
        mismatches: outcome.mismatches,
        detail: outcome.detail,
      },
      'backup verified',
    );
  }
  return outcome.result;
}
