import {
  BackupCompleted,
  BackupDeleted,
  BackupFailed,
  BackupStarted,
  BackupVerified,
  backupEvents,
  Consumers,
  consumerDefinition,
  RestoreCompleted,
  RestoreFailed,
  RestoreProgressed,
  RestoreStarted,
} from '@ttm/contracts';
import { knownMessage, type ProjectionDefinition, type ReceivedEvent } from '@ttm/service-kit';
import type pg from 'pg';
import { BACKUP_SCHEMA } from '../shared/index.js';

export { BACKUP_SCHEMA };

/**
 * `backup.backups` and `backup.restores` from the backup events. Each statement is
 * idempotent on its own, and the runner keeps the checkpoint in the same transaction.
 */
export const backupsProjection: ProjectionDefinition = {
  name: 'backups',
  schema: BACKUP_SCHEMA,
  consumer: consumerDefinition(Consumers.backupBackups),
  apply: (client, event) => applyBackupEvent(client, event),
  async reset(client) {
    await client.query('TRUNCATE backup.backups, backup.restores');
  },
};

async function applyBackupEvent(client: pg.PoolClient, event: ReceivedEvent): Promise<void> {
  const seq = event.seq;
  const known = knownMessage(event, backupEvents);
  switch (known?.type) {
    case BackupStarted.type: {
      const e = known.data;
      await client.query(
        `INSERT INTO backup.backups (id, tenant_id, status, trigger, plan, created_at, last_seq)
         VALUES ($1, $2, 'running', $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
        [e.backupId, e.tenantId, e.trigger, e.plan, e.startedAt, seq],
      );
      return;
    }
    case BackupCompleted.type: {
      const e = known.data;
      await client.query(
        `UPDATE backup.backups SET status = 'completed', completed_at = $2, size_bytes = $3, manifest = $4,
                object_name = $5, last_seq = $6 WHERE id = $1`,
        [e.backupId, e.completedAt, e.manifest.totalBytes, JSON.stringify(e.manifest), e.manifest.objectName, seq],
      );
      return;
    }
    case BackupFailed.type: {
      const e = known.data;
      // A rejected backup has no started event: the failure is its first row.
      await client.query(
        `INSERT INTO backup.backups (id, tenant_id, status, created_at, error, last_seq)
         VALUES ($1, $2, 'failed', $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET status = 'failed', error = EXCLUDED.error, last_seq = EXCLUDED.last_seq`,
        [e.backupId, e.tenantId, e.failedAt, e.reason, seq],
      );
      return;
    }
    case BackupVerified.type: {
      const e = known.data;
      await client.query('UPDATE backup.backups SET verified_at = $2, verification = $3, last_seq = $4 WHERE id = $1', [
        e.backupId,
        e.verifiedAt,
        e.result,
        seq,
      ]);
      return;
    }
    case BackupDeleted.type: {
      const e = known.data;
      await client.query(`UPDATE backup.backups SET status = 'deleted', deleted_at = $2, last_seq = $3 WHERE id = $1`, [
        e.backupId,
        e.deletedAt,
        seq,
      ]);
      return;
    }
    case RestoreStarted.type: {
      const e = known.data;
      await client.query(
        `INSERT INTO backup.restores (id, backup_id, tenant_id, mode, target_tenant_id, status, started_at)
         VALUES ($1, $2, $3, $4, $5, 'running', $6) ON CONFLICT (id) DO NOTHING`,
        [e.restoreId, e.backupId, e.tenantId, e.mode, e.targetTenantId, e.startedAt],
      );
      return;
    }
    case RestoreProgressed.type: {
      const e = known.data;
      await client.query('UPDATE backup.restores SET progress = GREATEST(progress, $2) WHERE id = $1', [
        e.restoreId,
        e.progress,
      ]);
      return;
    }
    case RestoreCompleted.type: {
      const e = known.data;
      await client.query(
        `UPDATE backup.restores SET status = 'completed', progress = 100, finished_at = $2 WHERE id = $1`,
        [e.restoreId, e.completedAt],
      );
      return;
    }
    case RestoreFailed.type: {
      const e = known.data;
      await client.query(
        `INSERT INTO backup.restores (id, backup_id, tenant_id, mode, target_tenant_id, status, started_at, finished_at, error)
         VALUES ($1, $2, $3, $4, $5, 'failed', $6, $6, $7)
         ON CONFLICT (id) DO UPDATE SET status = 'failed', finished_at = EXCLUDED.finished_at, error = EXCLUDED.error`,
        [e.restoreId, e.backupId, e.tenantId, e.mode, e.targetTenantId, e.failedAt, e.reason],
      );
      return;
    }
  }
}

/** A tenant's good backups, newest first, for retention. */
export async function completedBackupsOf(
  pool: pg.Pool,
  tenantId: string,
): Promise<{ id: string; completedAt: Date }[]> {
  const { rows } = await pool.query<{ id: string; completed_at: Date }>(
    `SELECT id, completed_at FROM backup.backups
      WHERE tenant_id = $1 AND status = 'completed' ORDER BY completed_at DESC`,
    [tenantId],
  );
  return rows.map((r) => ({ id: r.id, completedAt: r.completed_at }));
}

/** Wait until the projection applied stream sequence `seq` (or `timeoutMs` passed); true if it did. */
export async function projectionReached(pool: pg.Pool, seq: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ last_seq: string }>(
      'SELECT last_seq FROM backup.projection_checkpoints WHERE projection = $1',
      [backupsProjection.name],
    );
    if (Number(rows[0]?.last_seq ?? 0) >= seq) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
