import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the backup service measures (Prometheus, on its ops server's `/metrics`). */
export interface BackupMetrics {
  backupDuration: Histogram<'trigger'>;
  backupSize: Histogram;
  backupRows: Counter;
  restoreDuration: Histogram<'mode'>;
  /** Per tenant: bounded by the fleet size, acceptable at this scale (one series per tenant). */
  lastSuccess: Gauge<'tenant'>;
  verificationOk: Gauge<'tenant'>;
  failures: Counter<'operation'>;
}

export function createBackupMetrics(registry: Registry): BackupMetrics {
  return {
    backupDuration: new Histogram({
      name: 'backup_duration_seconds',
      help: 'Time to take a backup: snapshot, compression and upload to the store',
      labelNames: ['trigger'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers: [registry],
    }),
    backupSize: new Histogram({
      name: 'backup_size_bytes',
      help: 'Size of a stored (compressed) backup artifact',
      buckets: [1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10],
      registers: [registry],
    }),
    backupRows: new Counter({ name: 'backup_rows_total', help: 'Rows written to backups', registers: [registry] }),
    restoreDuration: new Histogram({
      name: 'restore_duration_seconds',
      help: 'Time to restore a backup (the recovery time actually measured), by mode',
      labelNames: ['mode'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'backup_last_success_timestamp',
      help: 'Unix time of the last completed backup of a tenant (alert on its age)',
      labelNames: ['tenant'],
      registers: [registry],
    }),
    verificationOk: new Gauge({
      name: 'backup_verification_ok',
      help: '1 if the last verification of a tenant backup matched its manifest, 0 if not',
      labelNames: ['tenant'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'backup_failures_total',
      help: 'Backups, restores and verifications that failed, by operation',
      labelNames: ['operation'],
      registers: [registry],
    }),
  };
}
