import type { Placement } from '@ttm/contracts';
import type { Catalog, Logger } from '@ttm/service-kit';
import pg from 'pg';
import type { z } from 'zod';

type TenantPlacement = z.output<typeof Placement>;

export interface ClusterPoolsOptions {
  /** Connections per data-plane database (`DATA_PLANE_POOL_MAX`). */
  maxConnections: number;
  /**
   * Most pools kept open at once. Tenants with a dedicated database each have one, so the
   * least recently used pool is closed beyond this. Default 200.
   */
  maxPools?: number;
  /** Idle connections close after this long, so a rarely used database holds none. Default 30 s. */
  idleTimeoutMs?: number;
}

/**
 * The gateway's read-only hands on the Twenty data plane: ONE bounded pool per data-plane
 * database (a cluster's shared database, or a tenant's dedicated one), opened on first use.
 * Sessions are read-only with a statement timeout: the gateway only reads credentials there.
 */
export class ClusterPools {
  private readonly pools = new Map<string, pg.Pool>();
  private closed = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    private readonly options: ClusterPoolsOptions,
  ) {}

  get size(): number {
    return this.pools.size;
  }

  /** The pool of the database a tenant's workspace lives in. */
  poolFor(placement: TenantPlacement): pg.Pool {
    if (this.closed) throw new Error('data-plane pools are closed (the gateway is stopping)');
    const key = `${placement.region}/${placement.cluster}/${placement.database}`;
    const existing = this.pools.get(key);
    if (existing) {
      // Map order is the eviction order: move the pool to the most recently used end.
      this.pools.delete(key);
      this.pools.set(key, existing);
      return existing;
    }
    const cluster = this.catalog.region(placement.region)?.clusters.find((c) => c.name === placement.cluster);
    if (!cluster) {
      throw new Error(
        `cluster ${placement.cluster} of region ${placement.region} is not configured (REGIONS); ` +
          'the gateway cannot reach the tenant data plane',
      );
    }
    const pool = new pg.Pool({
      connectionString: withDatabase(cluster.url, placement.database),
      max: this.options.maxConnections,
      application_name: 'ttm-gateway',
      idleTimeoutMillis: this.options.idleTimeoutMs ?? 30_000,
      connectionTimeoutMillis: 5_000,
      options: '-c default_transaction_read_only=on -c statement_timeout=5000',
    });
    pool.on('error', (error) =>
      this.logger.warn({ err: error, database: placement.database }, 'idle data-plane client failed'),
    );
    this.pools.set(key, pool);
    this.evictBeyondLimit();
    return pool;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.end()));
  }

  private evictBeyondLimit(): void {
    const limit = this.options.maxPools ?? 200;
    for (const [key, pool] of this.pools) {
      if (this.pools.size <= limit) return;
      this.pools.delete(key);
      // Clients checked out right now finish their query; the pool closes them when released.
      pool.end().catch((error: unknown) => this.logger.warn({ err: error, key }, 'closing a data-plane pool failed'));
    }
  }
}

/** The cluster URL pointed at another database of the same server. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}
