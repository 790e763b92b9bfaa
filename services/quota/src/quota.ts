import { type KV, Kvm } from '@nats-io/kv';
import { Buckets, Consumers, consumerDefinition, QuotaLimitsEntry, QuotaStateKeys, UsageTotal } from '@ttm/contracts';
import {
  commandHandlers,
  type Logger,
  pause,
  runCommandConsumer,
  runProjection,
  type ServiceContext,
  startService,
  watchKv,
} from '@ttm/service-kit';
import { type QuotaConfig, quotaEnv } from './config.js';
import { Enforcer } from './enforcement/enforcer.js';
import { QuotaBook } from './enforcement/quotaBook.js';
import { overrideQuotasHandler } from './overrides/overrideCommand.js';
import { overridesProjection, readOverrides } from './overrides/projection.js';
import { settlementProjection } from './settlement/projection.js';

export interface Quota {
  service: ServiceContext<QuotaConfig>;
  /** Evaluate every known tenant now (the schedule does it every QUOTA_RECONCILE_INTERVAL). */
  evaluateAll(): Promise<void>;
  stop(): Promise<void>;
}

export interface QuotaOptions {
  handleSignals?: boolean;
  /** The clock months are reckoned by (tests). */
  now?: () => Date;
}

/**
 * The quota service, started: `main.ts` runs it as a process, tests in-process.
 *
 * Inputs, all pushed to it: the plan limits (`<tenantId>.limits` in `ttm-quota-state`, watched),
 * usage totals (`ttm-usage-totals`, watched, written by metering a few hundred milliseconds
 * after a batch is counted) and overrides (`cmd.quota.override` -> `ttm.quota.overridden.v1` ->
 * the overrides projection). Output: `<tenantId>.state` for the gateway, and notices on
 * `evt.quota.<tenantId>`.
 */
export async function startQuota(env: NodeJS.ProcessEnv, options: QuotaOptions = {}): Promise<Quota> {
  const service = await startService(
    {
      name: 'quota',
      version: '0.1.0',
      description: 'Compares usage with plan limits and publishes enforcement state',
      env: quotaEnv,
      port: (config) => config.QUOTA_PORT,
      postgres: { schema: 'quota', migrationsDir: new URL('../migrations', import.meta.url) },
      handleSignals: options.handleSignals,
    },
    env,
  );
  const { config, logger, lifecycle, js, metrics } = service;
  const pool = service.pool!;
  const signal = lifecycle.signal;
  const kvm = new Kvm(service.nats.nc);
  const [quotaState, usageTotals] = await Promise.all([kvm.open(Buckets.quotaState), kvm.open(Buckets.usageTotals)]);

  const book = new QuotaBook();
  for (const [tenantId, overrides] of await readOverrides(pool)) book.setOverrides(tenantId, overrides);
  const enforcer = new Enforcer({
    js,
    pool,
    quotaState,
    book,
    logger,
    thresholdPercent: config.QUOTA_WARNING_THRESHOLD,
    delayMs: config.QUOTA_EVALUATE_DELAY,
    refreshMs: config.QUOTA_STATE_REFRESH,
    metrics,
    ...(options.now ? { now: options.now } : {}),
  });
  await enforcer.load();
  lifecycle.onStop('enforcer', () => enforcer.close());

  const reloadOverrides = (tenantId: string) => {
    readOverrides(pool, tenantId).then(
      (found) => {
        book.setOverrides(tenantId, found.get(tenantId) ?? {});
        enforcer.mark(tenantId);
      },
      (error: unknown) => logger.warn({ err: error, tenantId }, 'reading overrides failed'),
    );
  };
  const overrides = overridesProjection(reloadOverrides);
  const projections = [
    runProjection({
      js,
      pool,
      projection: overrides.projection,
      logger,
      signal,
      metrics,
      onApplied: overrides.onApplied,
    }),
    runProjection({ js, pool, projection: settlementProjection(book, metrics), logger, signal, metrics }),
  ];
  lifecycle.onStop('projections', () => Promise.all(projections).then(() => undefined));

  const commands = runCommandConsumer({
    js,
    consumer: consumerDefinition(Consumers.quotaCommands),
    logger,
    signal,
    metrics,
    handlers: commandHandlers(overrideQuotasHandler(js)),
  });
  lifecycle.onStop('commands', () => commands);

  const watches = [
    watchBucket(quotaState, QuotaStateKeys.allLimits, signal, logger, (tenantId, value) => {
      const parsed = value === undefined ? undefined : QuotaLimitsEntry.safeParse(value);
      if (parsed && !parsed.success) {
        logger.error({ tenantId, issues: parsed.error.issues }, 'plan limits entry breaks its contract; ignored');
        return;
      }
      book.setLimits(tenantId, parsed?.data);
      enforcer.mark(tenantId);
    }),
    watchBucket(usageTotals, '>', signal, logger, (tenantId, value) => {
      if (value === undefined) return;
      const parsed = UsageTotal.safeParse(value);
      if (!parsed.success) {
        logger.error({ tenantId, issues: parsed.error.issues }, 'usage total breaks its contract; ignored');
        return;
      }
      if (book.setUsage(parsed.data)) enforcer.mark(tenantId);
    }),
  ];
  lifecycle.onStop('watches', () => Promise.all(watches).then(() => undefined));

  // Month rollover, evaluations that failed, notices a crash left unpublished.
  const reconcile = (async () => {
    while (!signal.aborted) {
      await pause(config.QUOTA_RECONCILE_INTERVAL, signal);
      if (signal.aborted) break;
      enforcer.markAll();
      await enforcer
        .publishNotices()
        .catch((error: unknown) => logger.warn({ err: error }, 'publishing notices failed'));
    }
  })();
  lifecycle.onStop('reconcile', () => reconcile);
  await enforcer.publishNotices().catch((error: unknown) => logger.warn({ err: error }, 'publishing notices failed'));

  logger.info({ port: config.QUOTA_PORT, threshold: config.QUOTA_WARNING_THRESHOLD }, 'quota ready');
  return {
    service,
    evaluateAll: () => {
      enforcer.markAll();
      return enforcer.evaluateNow();
    },
    stop: () => lifecycle.stop('stop requested'),
  };
}

/**
 * Follow a KV bucket keyed `<tenantId>.<...>` as (tenant id, JSON value or undefined once
 * deleted): the shared watch loop, which reopens a broken watch.
 */
function watchBucket(
  kv: KV,
  key: string,
  signal: AbortSignal,
  logger: Logger,
  onChange: (tenantId: string, value: unknown) => void,
): Promise<void> {
  const tenantOf = (entryKey: string) => entryKey.split('.')[0] ?? entryKey;
  return watchKv({
    kv,
    key,
    signal,
    logger,
    what: `bucket key ${key}`,
    onPut: (entryKey, value) => onChange(tenantOf(entryKey), value),
    onDelete: (entryKey) => onChange(tenantOf(entryKey), undefined),
  });
}
