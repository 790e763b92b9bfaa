import { Consumers, Streams } from '@ttm/contracts';
import type { Logger, Pool } from '@ttm/service-kit';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';
import type { ConsumerBacklog } from './backlog.js';
import type { FleetStats } from './schemas.js';

/** Tenant commands not yet finished by the provisioner: its durable consumer's backlog. */
export function provisioningQueueDepth(backlog: ConsumerBacklog): Promise<number> {
  return backlog.pending(Streams.COMMANDS, Consumers.provisionerCommands);
}

/**
 * Fleet totals from the gateway projection (one pass with grouping sets), provisioning
 * outcomes and durations from its operations, the queue depth from NATS.
 */
export async function fleetStats(deps: { pool: Pool; backlog: ConsumerBacklog; logger: Logger }): Promise<FleetStats> {
  const [counts, provisioning, queueDepth] = await Promise.all([
    deps.pool.query<{ status: string | null; plan: string | null; region: string | null; n: number }>(
      `SELECT status, plan, region, count(*)::int AS n
         FROM ${GATEWAY_SCHEMA}.tenants
        GROUP BY GROUPING SETS ((status), (plan), (region), ())`,
    ),
    deps.pool.query<{ completed: number; failed: number; durations: number[] | null }>(
      `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS completed,
              count(*) FILTER (WHERE status = 'failed')::int AS failed,
              percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
                (ORDER BY extract(epoch FROM finished_at - started_at)) FILTER (WHERE status = 'succeeded') AS durations
         FROM ${GATEWAY_SCHEMA}.operations
        WHERE kind = 'provisioning'`,
    ),
    provisioningQueueDepth(deps.backlog).catch((error: unknown) => {
      deps.logger.warn({ err: error }, 'provisioning queue depth unavailable (NATS)');
      return null;
    }),
  ]);

  const stats: FleetStats = {
    tenants: { total: 0, by_status: {}, by_plan: {}, by_region: {} },
    provisioning: {
      queue_depth: queueDepth,
      completed: provisioning.rows[0]?.completed ?? 0,
      failed: provisioning.rows[0]?.failed ?? 0,
      duration_seconds: { p50: null, p95: null, p99: null },
    },
  };
  for (const row of counts.rows) {
    if (row.status !== null) stats.tenants.by_status[row.status] = row.n;
    else if (row.plan !== null) stats.tenants.by_plan[row.plan] = row.n;
    else if (row.region !== null) stats.tenants.by_region[row.region] = row.n;
    else stats.tenants.total = row.n;
  }
  const [p50, p95, p99] = provisioning.rows[0]?.durations ?? [];
  stats.provisioning.duration_seconds = { p50: seconds(p50), p95: seconds(p95), p99: seconds(p99) };
  return stats;
}

function seconds(value: number | undefined): number | null {
  return value === undefined || value === null ? null : Math.round(Number(value) * 1_000) / 1_000;
}
