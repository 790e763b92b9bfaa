import { Kvm } from '@nats-io/kv';
import { Buckets, Consumers, consumerDefinition, RegisterOrganization } from '@ttm/contracts';
import { adoptDataPlane } from '@ttm/data-plane';
import {
  createCatalog,
  dataPlaneBudget,
  LocalKeyEncryptionKeys,
  runCommandConsumer,
  runProjection,
  type ServiceContext,
  startService,
} from '@ttm/service-kit';
import { Counter, Histogram } from 'prom-client';
import { type ProvisionerConfig, provisionerEnv } from './config.js';
import { DataPlane } from './dataPlane/dataPlane.js';
import { tenantCommandHandlers } from './tenant/handlers.js';
import { placementsProjection } from './tenant/placementsProjection.js';
import { COMMAND_REDELIVERY } from './tenant/redelivery.js';
import type { SagaDeps } from './tenant/saga.js';
import { type FleetUpgradeDeps, serveUpgradeRequests, UpgradeScheduler, watchSchemaDrift } from './upgrades/index.js';

export interface Provisioner {
  service: ServiceContext<ProvisionerConfig>;
  dataPlane: DataPlane;
  upgrades: UpgradeScheduler;
  stop(): Promise<void>;
}

/** The provisioner, started: `main.ts` runs it as a process, tests in-process. */
export async function startProvisioner(
  env: NodeJS.ProcessEnv,
  options: {
    handleSignals?: boolean;
    afterStepEffect?: SagaDeps['afterStepEffect'];
    /** Test hook of the fleet upgrade: after a tenant's change, before its status is recorded. */
    afterTenantUpgrade?: FleetUpgradeDeps['afterTenant'];
  } = {},
): Promise<Provisioner> {
  const service = await startService(
    {
      name: 'provisioner',
      version: '0.1.0',
      description: 'Provisions tenant workspaces on the data plane: a saga of idempotent steps',
      env: provisionerEnv,
      port: (config) => config.PROVISIONER_PORT,
      postgres: { schema: 'provisioner', migrationsDir: new URL('../migrations', import.meta.url) },
      handleSignals: options.handleSignals,
    },
    env,
  );
  const { config, logger, lifecycle, js, metrics } = service;
  const catalog = createCatalog(config);

  const dataPlane = adoptDataPlane(
    service,
    new DataPlane(catalog, logger, {
      maxConnections: config.DATA_PLANE_POOL_MAX,
      ...dataPlaneBudget(config, 'provisioner'),
    }),
  );
  const kvm = new Kvm(service.nats.nc);
  const [slugs, quotaState] = await Promise.all([kvm.open(Buckets.slugs), kvm.open(Buckets.quotaState)]);

  const created = new Counter({ name: 'tenant_created_total', help: 'Tenants provisioned', registers: [metrics] });
  const failed = new Counter({
    name: 'tenant_provisioning_failed_total',
    help: 'Provisionings that failed and were compensated, by step',
    labelNames: ['step'],
    registers: [metrics],
  });
  const duration = new Histogram({
    name: 'provisioning_duration_seconds',
    help: 'Registration to active',
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30],
    registers: [metrics],
  });

  // Registrations being provisioned right now: the warm pool refills only when there are none.
  let provisioning = 0;
  await dataPlane.startWarmPools({ size: config.WORKSPACE_WARM_POOL, busy: () => provisioning > 0, logger });

  const consumer = consumerDefinition(Consumers.provisionerCommands);
  const commands = runCommandConsumer({
    js,
    consumer,
    logger,
    signal: lifecycle.signal,
    concurrency: config.PROVISIONER_CONCURRENCY,
    // With max_deliver 20, a registration rides out a dependency away for minutes (tenant/redelivery.ts).
    retry: COMMAND_REDELIVERY,
    metrics,
    handlers: countingRegistrations(
      tenantCommandHandlers(
        {
          js,
          pool: service.pool!,
          catalog,
          dataPlane,
          slugs,
          quotaState,
          logger,
          stepAttempts: config.PROVISIONING_STEP_ATTEMPTS,
          retryDelayMs: config.PROVISIONING_RETRY_DELAY,
          onProvisioned: (ms) => {
            created.inc();
            duration.observe(ms / 1000);
          },
          onFailed: (step) => failed.inc({ step }),
          ...(options.afterStepEffect ? { afterStepEffect: options.afterStepEffect } : {}),
        },
        LocalKeyEncryptionKeys.fromConfig(config),
        consumer.maxDeliver,
      ),
      (delta) => {
        provisioning += delta;
      },
    ),
  });
  lifecycle.onStop('commands', () => commands);
  const placements = runProjection({
    js,
    pool: service.pool!,
    projection: placementsProjection,
    logger,
    signal: lifecycle.signal,
    metrics,
  });
  lifecycle.onStop('placements projection', () => placements);
  // Fleet schema upgrades live here because each tenant's change is decided by the tenant
  // decider this service owns, over the data-plane pools it already bounds per database.
  const upgrades = new UpgradeScheduler({
    pool: service.pool!,
    js,
    dataPlane,
    logger,
    maxTenantsPerSecond: config.UPGRADE_MAX_TENANTS_PER_SECOND,
    ...(options.afterTenantUpgrade ? { afterTenant: options.afterTenantUpgrade } : {}),
  });
  upgrades.start();
  lifecycle.onStop('schema upgrades', () => upgrades.stop());
  const upgradeRequests = serveUpgradeRequests({
    nc: service.nats.nc,
    pool: service.pool!,
    onRunnable: () => void upgrades.check(),
    logger,
  });
  lifecycle.onStop('schema upgrade requests', async () => upgradeRequests.unsubscribe());
  const drift = watchSchemaDrift({ catalog, metrics, logger, everyMs: config.SCHEMA_DRIFT_CHECK_EVERY });
  lifecycle.onStop('schema drift check', async () => drift.stop());
  logger.info({ port: config.PROVISIONER_PORT, regions: catalog.regions.map((r) => r.name) }, 'provisioner ready');
  return { service, dataPlane, upgrades, stop: () => lifecycle.stop('stop requested') };
}

/** Wraps the register handler to keep count of provisionings in progress. */
function countingRegistrations(
  handlers: ReturnType<typeof tenantCommandHandlers>,
  count: (delta: 1 | -1) => void,
): ReturnType<typeof tenantCommandHandlers> {
  const register = handlers[RegisterOrganization.type];
  if (!register) return handlers;
  return {
    ...handlers,
    [RegisterOrganization.type]: async (command) => {
      count(1);
      try {
        await register(command);
      } finally {
        count(-1);
      }
    },
  };
}
