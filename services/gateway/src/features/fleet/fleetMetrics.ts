import type { FastifyPluginAsync } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { GatewayDeps } from '../../deps.js';
import { projections } from '../../projections.js';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';
import { provisioningQueueDepth } from './stats.js';

/**
 * The fleet's gauges on the gateway's registry, each computed when Prometheus scrapes:
 * `active_tenants`, `provisioning_queue_depth`, `cache_hit_rate` (tenant directory),
 * `projection_lag_events{projection}` and the counter `tenant_created_total`. Reads behind them are cached for a second, and a
 * failed read keeps the last value (and logs) instead of failing the whole scrape.
 */
export const fleetMetrics: FastifyPluginAsync<GatewayDeps> = async (_app, deps) => {
  const backlog = deps.backlog;
  const activeTenants = cachedFor(1_000, async () => {
    const { rows } = await deps.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${GATEWAY_SCHEMA}.tenants WHERE status = 'active'`,
    );
    return rows[0]?.n ?? 0;
  });
  const failed = (metric: string) => (error: unknown) =>
    deps.logger.debug({ err: error, metric }, 'metric not updated; keeping its last value');

  const active = gauge(deps.metrics, 'active_tenants', 'Tenants whose status is active', [], async () => {
    await activeTenants()
      .then((n) => active.set(n))
      .catch(failed('active_tenants'));
  });
  const queue = gauge(
    deps.metrics,
    'provisioning_queue_depth',
    'Tenant commands waiting for or held by the provisioner',
    [],
    async () => {
      await provisioningQueueDepth(backlog)
        .then((n) => queue.set(n))
        .catch(failed('provisioning_queue_depth'));
    },
  );
  const hitRate = gauge(
    deps.metrics,
    'cache_hit_rate',
    'Share of tenant lookups the in-memory directory answered (0-1)',
    [],
    () => {
      hitRate.set(deps.directory.hitRate);
    },
  );
  // The seed's gateway counter: tenants ever provisioned, as the projection knows them (so every
  // gateway reports the fleet's count; the provisioner's own counter counts what it provisioned).
  const provisionedTenants = cachedFor(1_000, async () => {
    const { rows } = await deps.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${GATEWAY_SCHEMA}.tenants WHERE provisioned_at IS NOT NULL`,
    );
    return rows[0]?.n ?? 0;
  });
  let createdSeen = 0;
  if (deps.metrics.getSingleMetric('tenant_created_total')) deps.metrics.removeSingleMetric('tenant_created_total');
  const created: Counter = new Counter({
    name: 'tenant_created_total',
    help: 'Tenants provisioned, fleet-wide (from the tenants projection)',
    registers: [deps.metrics],
    async collect() {
      await provisionedTenants()
        .then((n) => {
          if (n > createdSeen) created.inc(n - createdSeen);
          createdSeen = Math.max(createdSeen, n);
        })
        .catch(failed('tenant_created_total'));
    },
  });
  const lag = gauge(
    deps.metrics,
    'projection_lag_events',
    'Events a gateway projection has not applied yet',
    ['projection'],
    async () => {
      await Promise.all(
        projections.map((projection) =>
          backlog
            .pending(projection.consumer.stream, projection.consumer.durable)
            .then((n) => lag.set({ projection: projection.name }, n))
            .catch(failed('projection_lag_events')),
        ),
      );
    },
  );
};

function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  collect: () => void | Promise<void>,
): Gauge<L> {
  // A second gateway on the same registry (tests) takes the metric over.
  if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  return new Gauge<L>({ name, help, labelNames, registers: [registry], collect });
}

/** `read`, called at most once per `ms`; callers in between share the last answer. */
function cachedFor<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (last && Date.now() - last.at < ms) return last.value;
    const value = read();
    last = { at: Date.now(), value };
    value.catch(() => {
      if (last?.value === value) last = undefined;
    });
    return value;
  };
}
