import { Kvm } from '@nats-io/kv';
import { Buckets } from '@ttm/contracts';
import { adoptDataPlane, DataPlanePools } from '@ttm/data-plane';
import {
  createCatalog,
  dataPlaneBudget,
  type Logger,
  pause,
  runProjection,
  type ServiceContext,
  startService,
} from '@ttm/service-kit';
import { WindowCloser } from './closing/windowCloser.js';
import { type MeteringConfig, meteringEnv } from './config.js';
import type { BatchOutcome } from './ingest/applyBatch.js';
import { pruneDedupKeys } from './ingest/dedupRetention.js';
import { runUsageConsumer } from './ingest/usageConsumer.js';
import { serveUsageQueries } from './queries/usageQueries.js';
import { type TenantSample, UsageSampler } from './sampling/usageSampler.js';
import { meteringTenantsProjection } from './tenants/projection.js';
import { PipelinedPublisher } from './totals/pipelinedPublisher.js';
import { UsageTotalsPublisher } from './totals/usageTotals.js';

export interface Metering {
  service: ServiceContext<MeteringConfig>;
  /** Sample every placed tenant's storage and users now, measuring every tenant's storage (a full sample). */
  sampleNow(): Promise<TenantSample[]>;
  /**
   * What the schedule runs every METERING_SAMPLE_INTERVAL: storage measured again only for the
   * tenants that called the API since the last sample (or moved), all of them every METERING_FULL_SAMPLE_INTERVAL.
   */
  sampleChanged(): Promise<TenantSample[]>;
  /** Close and publish due windows now (the schedule does it every METERING_CLOSE_INTERVAL). */
  closeNow(): Promise<{ closedBefore: Date | null; published: number }>;
  stop(): Promise<void>;
}

export interface MeteringOptions {
  handleSignals?: boolean;
  /** The clock windows are reckoned by (tests). */
  now?: () => Date;
  /** Test hook: a batch committed, none of its messages acknowledged yet. */
  afterCommit?: (outcome: BatchOutcome) => void | Promise<void>;
  /** Test hook: closed windows published on BILLING, not yet marked published. */
  afterPublish?: (count: number) => void | Promise<void>;
}

/** The metering service, started: `main.ts` runs it as a process, tests in-process. */
export async function startMetering(env: NodeJS.ProcessEnv, options: MeteringOptions = {}): Promise<Metering> {
  const service = await startService(
    {
      name: 'metering',
      version: '0.1.0',
      description: 'Counts usage per tenant and closes billing windows exactly once',
      env: meteringEnv,
      port: (config) => config.METERING_PORT,
      postgres: { schema: 'metering', migrationsDir: new URL('../migrations', import.meta.url) },
      handleSignals: options.handleSignals,
    },
    env,
  );
  const { config, logger, lifecycle, js, metrics } = service;
  const pool = service.pool!;
  const signal = lifecycle.signal;
  const now = options.now ?? (() => new Date());
  if (config.METERING_DEDUP_RETENTION < config.USAGE_MAX_AGE) {
    logger.warn(
      { dedupRetentionMs: config.METERING_DEDUP_RETENTION, usageMaxAgeMs: config.USAGE_MAX_AGE },
      'METERING_DEDUP_RETENTION is shorter than USAGE_MAX_AGE: replaying the whole USAGE stream could count old usage twice',
    );
  }

  // Opening the bucket checks it exists; puts then go through the pipelined publisher.
  await new Kvm(service.nats.nc).open(Buckets.usageTotals);
  const publisher = new PipelinedPublisher(service.nats.nc);
  lifecycle.onStop('usage totals publisher', () => publisher.close());
  const totals = new UsageTotalsPublisher(publisher, logger, config.METERING_TOTALS_INTERVAL, now);
  // Whatever a crash kept from the bucket, quota sees this month's totals again.
  const republished = await totals.republishMonth(pool);
  lifecycle.onStop('usage totals', () => totals.close());

  const usage = runUsageConsumer({
    js,
    pool,
    logger,
    signal,
    batchSize: config.METERING_BATCH_SIZE,
    lingerMs: config.METERING_BATCH_LINGER,
    concurrency: config.METERING_BATCH_CONCURRENCY,
    now,
    metrics,
    onCounted: (outcome) => totals.record(outcome.monthTotals),
    ...(options.afterCommit ? { afterCommit: options.afterCommit } : {}),
  });
  lifecycle.onStop('usage consumer', () => usage);

  const tenants = runProjection({ js, pool, projection: meteringTenantsProjection, logger, signal, metrics });
  lifecycle.onStop('tenants projection', () => tenants);

  const catalog = createCatalog(config);
  // Read-only sampling: one small pool per data-plane database, never one per tenant.
  const reader = adoptDataPlane(
    service,
    new DataPlanePools(catalog, logger, {
      applicationName: 'ttm-metering',
      maxConnections: config.METERING_DATA_PLANE_POOL_MAX,
      ...dataPlaneBudget(config, 'metering'),
      connectionTimeoutMs: 5_000,
    }),
  );
  const sampler = new UsageSampler({
    js,
    pool,
    reader,
    logger,
    now,
    metrics,
    fullEveryMs: config.METERING_FULL_SAMPLE_INTERVAL,
  });
  const closer = new WindowCloser({
    js,
    pool,
    logger,
    graceMs: config.METERING_WINDOW_GRACE,
    now,
    metrics,
    ...(options.afterPublish ? { afterPublish: options.afterPublish } : {}),
  });

  const queries = serveUsageQueries(service.nats.nc, pool, logger);
  lifecycle.onStop('usage queries', () => queries.unsubscribe());

  const schedules = [
    every('sample usage', config.METERING_SAMPLE_INTERVAL, () => sampler.sampleAll(), signal, logger),
    every('close windows', config.METERING_CLOSE_INTERVAL, () => closer.closeDue(), signal, logger),
    every(
      'forget old usage keys',
      3_600_000,
      () => pruneDedupKeys(pool, new Date(now().getTime() - config.METERING_DEDUP_RETENTION)),
      signal,
      logger,
    ),
  ];
  lifecycle.onStop('schedules', () => Promise.all(schedules).then(() => undefined));

  logger.info({ port: config.METERING_PORT, republished }, 'metering ready');
  return {
    service,
    sampleNow: () => sampler.sampleAll({ full: true }),
    sampleChanged: () => sampler.sampleAll(),
    closeNow: () => closer.closeDue(),
    stop: () => lifecycle.stop('stop requested'),
  };
}

/** Run `task` now and then every `intervalMs` until `signal` aborts; a failed round is logged and retried next time. */
async function every(
  name: string,
  intervalMs: number,
  task: () => Promise<unknown>,
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await task();
    } catch (error) {
      logger.warn({ err: error, task: name }, `${name} failed; trying again in ${intervalMs} ms`);
    }
    await pause(intervalMs, signal);
  }
}
