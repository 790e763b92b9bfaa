import type { JetStreamClient } from '@nats-io/jetstream';
import type { DataPlanePools, Placement } from '@ttm/data-plane';
import type { Logger } from '@ttm/service-kit';
import type pg from 'pg';
import type { WriteFreezes } from '../shared/index.js';
import type { MigrationMetrics } from './metrics.js';

/** Test hooks: moments to crash at. */
export interface MigrationHooks {
  /** After a migration step's effect and before its event is appended. */
  afterMigrationStep?: (migrationId: string, step: string) => void | Promise<void>;
  /** Before a migration compares the target with the source (a test tampers with the target here). */
  beforeMigrationVerify?: (migrationId: string, target: Placement) => void | Promise<void>;
}

export interface MigrationSettings {
  /** How long the old copy is kept after the switch (0: removed at once). */
  sourceGraceMs: number;
  /** `Retry-After` of the writes refused while frozen, in seconds. */
  retryAfterS: number;
}

/** What the migration saga, its handler and its source sweeper are given, built once at start. */
export interface MigrationDeps {
  js: JetStreamClient;
  /** Control-plane database: the `backup` schema (the migrations projection). */
  pool: pg.Pool;
  clusters: DataPlanePools;
  logger: Logger;
  /** Rows per batch of the copy and its checksums. */
  batchRows: number;
  hooks: MigrationHooks;
  /** Tenant write freezes, shared with in-place restores. */
  freezes: WriteFreezes;
  migration: MigrationSettings;
  migrationMetrics: MigrationMetrics;
}
