import type { JetStreamClient } from '@nats-io/jetstream';
import type { DataPlanePools } from '@ttm/data-plane';
import type { Catalog, Logger } from '@ttm/service-kit';
import type pg from 'pg';
import type { BackupMetrics } from './metrics.js';
import type { WriteFreezes } from './shared/index.js';
import type { RegionalBackupStores } from './store/index.js';

/** Test hooks: moments to crash at. */
export interface BackupHooks {
  /** After the artifact is whole in the store and before the completed event is appended. */
  afterObjectWritten?: (backupId: string, objectName: string) => void | Promise<void>;
  /** An in-place restore has frozen the tenant writes and is about to replace its data. */
  afterRestoreFrozen?: (restoreId: string) => void | Promise<void>;
  /** An archive's backup is verified (`backed-up`), or the tenant is recorded archived and its schema not yet dropped (`recorded`). */
  afterArchiveStep?: (archiveId: string, step: 'backed-up' | 'recorded') => void | Promise<void>;
}

/** What the backup service's operations are given, built once at start. */
export interface BackupDeps {
  js: JetStreamClient;
  /** Control-plane database: the `backup` schema (projections). */
  pool: pg.Pool;
  /** Each region's backup store: a backup goes to, and is read from, its tenant's region's. */
  stores: RegionalBackupStores;
  clusters: DataPlanePools;
  catalog: Catalog;
  logger: Logger;
  metrics: BackupMetrics;
  batchRows: number;
  /** `BACKUP_MAX_ROWS_PER_SECOND`: the pace of backups (0: unthrottled). */
  backupRowsPerSecond: number;
  /** Attempts at a backup before it is recorded failed; the delay doubles from `retryDelayMs`. */
  attempts: number;
  retryDelayMs: number;
  verifyAfterBackup: boolean;
  hooks: BackupHooks;
  /** Tenant write freezes, shared with migrations: an in-place restore freezes its tenant. */
  freezes: WriteFreezes;
  /** `Retry-After` of the writes refused while frozen, in seconds. */
  freezeRetryAfterS: number;
}

/** The actor of what the service does on its own (retention, scheduled backups, verification after a backup). */
export const SYSTEM_ACTOR = { kind: 'system', id: 'backup' } as const;
