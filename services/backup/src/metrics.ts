import type { Pool } from '@ttm/service-kit';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the backup service measures (Prometheus, on its ops server's `/metrics`). */
export interface BackupMetrics {
  backupDuration: Histogram<'trigger'>;
  backupSize: Histogram;
  backupRows: Counter;
  restoreDuration: Histogram<'mode'>;
  /** The recovery time measured by the last restore, per mode (RTO as observed). */
  lastRestore: Gauge<'mode'>;
  restoreRows: Counter;
  /** Per tenant: bounded by the fleet size, acceptable at this scale (one series per tenant). */
  lastSuccess: Gauge<'tenant'>;
  verificationOk: Gauge<'tenant'>;
  failures: Counter<'operation'>;
}

const durationBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export function createBackupMetrics(registry: Registry): BackupMetrics {
  const registers = [registry];
  const lastSuccess = new Gauge({
    name: 'backup_last_success_timestamp',
    help: 'Unix time of the last completed backup of a tenant (alert on its age)',
    labelNames: ['tenant'],
    registers,
  });
  new Gauge({
    name: 'backup_last_success_age_seconds',
    help: 'Seconds since the last completed backup of a tenant (RPO as it stands now)',
    labelNames: ['tenant'],
    registers,
    async collect() {
      this.reset();
      const now = Date.now() / 1_000;
      for (const { labels, value } of (await lastSuccess.get()).values) {
        this.set({ tenant: String(labels.tenant) }, Math.max(0, now - value));
      }
    },
  });
  return {
    backupDuration: new Histogram({
      name: 'backup_duration_seconds',
      help: 'Time to take a backup: snapshot, compression and upload to the store',
      labelNames: ['trigger'],
      buckets: durationBuckets,
      registers,
    }),
    backupSize: new Histogram({
      name: 'backup_size_bytes',
      help: 'Size of a stored (compressed) backup artifact',
      buckets: [1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10],
      registers,
    }),
    backupRows: new Counter({ name: 'backup_rows_total', help: 'Rows written to backups', registers }),
    restoreDuration: new Histogram({
      name: 'restore_duration_seconds',
      help: 'Time to restore a backup (the recovery time actually measured), by mode',
      labelNames: ['mode'],
      buckets: durationBuckets,
      registers,
    }),
    lastRestore: new Gauge({
      name: 'restore_last_duration_seconds',
      help: 'Recovery time measured by the last completed restore, by mode',
      labelNames: ['mode'],
      registers,
    }),
    restoreRows: new Counter({ name: 'restore_rows_total', help: 'Rows written by restores', registers }),
    lastSuccess,
    verificationOk: new Gauge({
      name: 'backup_verification_ok',
      help: '1 if the last verification of a tenant backup matched its manifest, 0 if not',
      labelNames: ['tenant'],
      registers,
    }),
    failures: new Counter({
      name: 'backup_failures_total',
      help: 'Backups, restores and verifications that failed, by operation',
      labelNames: ['operation'],
      registers,
    }),
  };
}

/**
 * Set the per-tenant gauges from the backups projection at start, so a restarted service reports
 * every tenant's last good backup and last verification, not only those it made since.
 */
export async function seedBackupMetrics(pool: Pool, schema: string, metrics: BackupMetrics): Promise<void> {
  const { rows: successes } = await pool.query<{ tenant_id: string; at: Date }>(
    `SELECT tenant_id, max(completed_at) AS at FROM ${schema}.backups
      WHERE completed_at IS NOT NULL AND status IN ('completed', 'deleted') GROUP BY tenant_id`,
  );
  for (const row of successes) metrics.lastSuccess.set({ tenant: row.tenant_id }, row.at.getTime() / 1_000);
  const { rows: verifications } = await pool.query<{ tenant_id: string; verification: 'ok' | 'mismatch' }>(
    `SELECT DISTINCT ON (tenant_id) tenant_id, verification FROM ${schema}.backups
      WHERE verification IS NOT NULL ORDER BY tenant_id, verified_at DESC`,
  );
  for (const row of verifications) {
    metrics.verificationOk.set({ tenant: row.tenant_id }, row.verification === 'ok' ? 1 : 0);
  }
}
