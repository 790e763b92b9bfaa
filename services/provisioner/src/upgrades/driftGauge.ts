import { checkFleetDrift } from '@ttm/data-plane';
import type { Catalog, Logger } from '@ttm/service-kit';
import { Gauge, type Registry } from 'prom-client';

/**
 * `workspace_schema_drifted_tenants{region,cluster}`: tenants whose schema differs from their
 * version's reference, from a full drift check every `everyMs` (0: never; the gauge then
 * stays absent rather than claiming a clean fleet).
 */
export function watchSchemaDrift(options: { catalog: Catalog; metrics: Registry; logger: Logger; everyMs: number }): {
  check: () => Promise<void>;
  stop: () => void;
} {
  const drifted = new Gauge({
    name: 'workspace_schema_drifted_tenants',
    help: 'Tenants whose workspace schema differs from the reference of the version they record (last drift check)',
    labelNames: ['region', 'cluster'],
    registers: [options.metrics],
  });
  const checkedAt = new Gauge({
    name: 'workspace_schema_drift_checked_timestamp_seconds',
    help: 'When the last complete drift check finished',
    registers: [options.metrics],
  });
  let running = false;
  const check = async () => {
    if (running) return;
    running = true;
    try {
      for (const report of await checkFleetDrift(options.catalog)) {
        drifted.set({ region: report.region, cluster: report.cluster }, report.drifted.length);
        if (report.drifted.length > 0) {
          options.logger.warn(
            {
              region: report.region,
              cluster: report.cluster,
              tenants: report.drifted.map((d) => d.workspaceId).slice(0, 20),
            },
            'workspace schemas drifted from their version reference',
          );
        }
      }
      checkedAt.set(Date.now() / 1000);
    } catch (error) {
      options.logger.warn({ err: error }, 'schema drift check failed');
    } finally {
      running = false;
    }
  };
  const timer = options.everyMs > 0 ? setInterval(() => void check(), options.everyMs) : undefined;
  timer?.unref();
  return { check, stop: () => clearInterval(timer) };
}
