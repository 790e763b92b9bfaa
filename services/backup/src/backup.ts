import { Consumers, consumerDefinition } from '@ttm/contracts';
import { adoptDataPlane, DataPlanePools } from '@ttm/data-plane';
import {
  createCatalog,
  dataPlaneBudget,
  LocalKeyEncryptionKeys,
  runCommandConsumer,
  runProjection,
  type ServiceContext,
  startService,
} from '@ttm/service-kit';
import { cleanUpAfterCrashes } from './backups/cleanup.js';
import { backupCommandHandlers } from './backups/handlers.js';
import { type BackupConfig, backupEnv } from './config.js';
import type { BackupDeps, BackupHooks } from './deps.js';
import {
  apiCallActivityProjection,
  createIdleSweepMetrics,
  type IdleSweepDeps,
  runIdleSweep,
  serveIdleQueries,
  signInActivityProjection,
} from './idle/index.js';
import { createBackupMetrics, seedBackupMetrics } from './metrics.js';
import {
  createMigrationMetrics,
  type MigrationDeps,
  type MigrationHooks,
  migrationCommandHandlers,
  migrationsProjection,
  runSourceSweeper,
} from './migration/index.js';
import { backupsProjection } from './projections/backups.js';
import { tenantsProjection } from './projections/tenants.js';
import { runScheduler } from './schedule/scheduler.js';
import { BACKUP_SCHEMA, WriteFreezes } from './shared/index.js';
import { EncryptingBackupStore, openRegionalStores } from './store/index.js';

export interface BackupOptions {
  /** SIGTERM/SIGINT stop the process (default); tests running it in-process turn it off. */
  handleSignals?: boolean;
  hooks?: BackupHooks & MigrationHooks;
}

export interface Backup {
  service: ServiceContext<BackupConfig>;
  deps: BackupDeps;
  migrationDeps: MigrationDeps;
  /** What the idle sweep runs with (tests sweep with their own clock). */
  idleDeps: IdleSweepDeps;
  stop(): Promise<void>;
}

/** The backup service, started: `main.ts` runs it as a process, tests in-process. */
export async function startBackup(env: NodeJS.ProcessEnv, options: BackupOptions = {}): Promise<Backup> {
  const service = await startService(
    {
      name: 'backup',
      version: '0.1.0',
      description: 'Backs up, verifies, restores and migrates tenant workspaces',
      env: backupEnv,
      port: (config) => config.BACKUP_PORT,
      postgres: { schema: BACKUP_SCHEMA, migrationsDir: new URL('../migrations', import.meta.url) },
      handleSignals: options.handleSignals,
    },
    env,
  );
  const { config, logger, lifecycle, js, metrics } = service;
  const pool = service.pool!;
  const catalog = createCatalog(config);
  const clusters = adoptDataPlane(
    service,
    new DataPlanePools(catalog, logger, {
      applicationName: 'ttm-backup',
      maxConnections: config.DATA_PLANE_POOL_MAX,
      ...dataPlaneBudget(config, 'backup'),
    }),
  );
  const kek = LocalKeyEncryptionKeys.fromConfig(config);
  const stores = await openRegionalStores(
    config,
    catalog.regions.map((r) => r.name),
    service.nats.nc,
    (store) => new EncryptingBackupStore(store, kek, config.BACKUP_ENCRYPTION),
  );
  lifecycle.onStop('backup stores', () => stores.close());

  const backupMetrics = createBackupMetrics(metrics);
  await seedBackupMetrics(pool, BACKUP_SCHEMA, backupMetrics).catch((error: unknown) =>
    logger.warn({ err: error }, 'reading the last backups for the metrics failed'),
  );

  const hooks = options.hooks ?? {};
  const freezes = await WriteFreezes.open(service.nats.nc);
  const freezeRetryAfterS = Math.max(1, Math.ceil(config.WRITE_FREEZE_RETRY_AFTER / 1_000));
  const deps: BackupDeps = {
    js,
    pool,
    stores,
    clusters,
    catalog,
    logger,
    metrics: backupMetrics,
    batchRows: config.BACKUP_BATCH_ROWS,
    backupRowsPerSecond: config.BACKUP_MAX_ROWS_PER_SECOND,
    attempts: config.BACKUP_ATTEMPTS,
    retryDelayMs: config.BACKUP_RETRY_DELAY,
    verifyAfterBackup: config.BACKUP_VERIFY_AFTER_BACKUP,
    hooks,
    freezes,
    freezeRetryAfterS,
  };
  const migrationDeps: MigrationDeps = {
    js,
    pool,
    clusters,
    logger,
    batchRows: config.BACKUP_BATCH_ROWS,
    hooks,
    freezes,
    migration: { sourceGraceMs: config.MIGRATION_SOURCE_GRACE, retryAfterS: freezeRetryAfterS },
    migrationMetrics: createMigrationMetrics(metrics),
  };

  const projection = runProjection({
    js,
    pool,
    projection: backupsProjection,
    logger,
    signal: lifecycle.signal,
    metrics,
  });
  lifecycle.onStop('backups projection', () => projection);

  const migrationEvents = runProjection({
    js,
    pool,
    projection: migrationsProjection,
    logger,
    signal: lifecycle.signal,
    metrics,
  });
  lifecycle.onStop('migrations projection', () => migrationEvents);

  const tenants = runProjection({ js, pool, projection: tenantsProjection, logger, signal: lifecycle.signal, metrics });
  lifecycle.onStop('tenants projection', () => tenants);

  // Last activity per tenant, for the idle sweep: from BILLING's api_calls windows and AUDIT's sign-ins.
  for (const activity of [apiCallActivityProjection, signInActivityProjection]) {
    const run = runProjection({ js, pool, projection: activity, logger, signal: lifecycle.signal, metrics });
    lifecycle.onStop(`${activity.name} projection`, () => run);
  }

  const consumer = consumerDefinition(Consumers.backupCommands);
  const commands = runCommandConsumer({
    js,
    consumer,
    logger,
    signal: lifecycle.signal,
    concurrency: config.BACKUP_CONCURRENCY,
    metrics,
    handlers: backupCommandHandlers(deps, consumer.maxDeliver),
  });
  lifecycle.onStop('commands', () => commands);

  const migrationConsumer = consumerDefinition(Consumers.backupMigrations);
  const migrations = runCommandConsumer({
    js,
    consumer: migrationConsumer,
    logger,
    signal: lifecycle.signal,
    concurrency: config.MIGRATION_CONCURRENCY,
    metrics,
    handlers: migrationCommandHandlers(migrationDeps, migrationConsumer.maxDeliver),
  });
  lifecycle.onStop('migration commands', () => migrations);
  const sweeper = runSourceSweeper(migrationDeps, config.MIGRATION_SWEEP_EVERY, lifecycle.signal);
  lifecycle.onStop('migration source sweeper', () => sweeper);

  const cleanup = cleanUpAfterCrashes(deps, config.BACKUP_STALE_AFTER).catch((error: unknown) => {
    logger.warn({ err: error }, 'start-up cleanup of crashed backups failed; the next start tries again');
  });
  lifecycle.onStop('start-up cleanup', async () => {
    await cleanup;
  });

  const scheduler = runScheduler(
    deps,
    config.BACKUP_SCHEDULE_EVERY,
    lifecycle.signal,
    config.BACKUP_WINDOW,
    config.BACKUP_NEW_TENANT_GRACE,
  );
  lifecycle.onStop('scheduler', () => scheduler);

  const idleDeps: IdleSweepDeps = {
    js,
    pool,
    catalog,
    logger,
    metrics: createIdleSweepMetrics(metrics),
    maxPerSweep: config.IDLE_ARCHIVE_MAX_PER_SWEEP,
    retryAfterMs: config.IDLE_ARCHIVE_RETRY_AFTER,
  };
  const idleSweep = runIdleSweep(idleDeps, config.IDLE_ARCHIVE_SWEEP_EVERY, lifecycle.signal);
  lifecycle.onStop('idle sweep', () => idleSweep);
  const idleQueries = serveIdleQueries(service.nats.nc, idleDeps);
  lifecycle.onStop('idle tenants queries', () => idleQueries.unsubscribe());

  logger.info(
    { port: config.BACKUP_PORT, stores: stores.describe(), window: config.BACKUP_WINDOW?.text },
    'backup ready',
  );
  return { service, deps, migrationDeps, idleDeps, stop: () => lifecycle.stop('stop requested') };
}
