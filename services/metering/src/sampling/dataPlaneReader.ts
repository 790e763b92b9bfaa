import type { Catalog, Logger } from '@ttm/service-kit';
import pg from 'pg';

/**
 * Read-only access to the Twenty data plane for sampling: one small pool per database, opened
 * on first use and closed when idle. Never a pool per tenant: a shared cluster database serves
 * all of its schema tenants with one query.
 */
export class DataPlaneReader {
  private readonly pools = new Map<string, pg.Pool>();

  constructor(
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    private readonly maxConnectionsPerDatabase: number,
  ) {}

  /** The pools open now, by `<region>/<cluster>/<database>` (for the connection gauges). */
  openPools(): Iterable<readonly [string, pg.Pool]> {
    return this.pools.entries();
  }

  pool(region: string, clusterName: string, database: string): pg.Pool {
    const cluster = this.catalog.region(region)?.clusters.find((c) => c.name === clusterName);
    if (!cluster) throw new Error(`cluster ${clusterName} is not configured in region ${region} (REGIONS)`);
    const key = `${region}/${clusterName}/${database}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const url = new URL(cluster.url);
      url.pathname = `/${encodeURIComponent(database)}`;
      pool = new pg.Pool({
        connectionString: url.toString(),
        max: this.maxConnectionsPerDatabase,
        application_name: 'ttm-metering',
        idleTimeoutMillis: 10_000,
        connectionTimeoutMillis: 5_000,
      });
      pool.on('error', (error) => this.logger.warn({ err: error, database: key }, 'idle data-plane client failed'));
      this.pools.set(key, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end()));
  }
}
