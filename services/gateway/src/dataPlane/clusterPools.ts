import type { Placement } from '@ttm/contracts';
import { type Catalog, type Logger, withDatabase } from '@ttm/service-kit';
import pg from 'pg';
import type { z } from 'zod';

type TenantPlacement = z.output<typeof Placement>;

/** `application_name` of the gateway's data-plane sessions (count them in pg_stat_activity). */
export const DATA_PLANE_APPLICATION_NAME = 'ttm-gateway-dataplane';

export interface ClusterPoolsOptions {
  /** Connections per data-plane database (`DATA_PLANE_POOL_MAX`). */
  maxConnections: number;
  /**
   * Connections across every data-plane database together (`DATA_PLANE_CONNECTIONS_MAX`);
   * default `maxConnections`. Tenants with dedicated databases add pools, not connections.
   */
  maxTotalConnections?: number;
  /**
   * Most pools kept open at once. Tenants with a dedicated database each have one, so the
   * least recently used pool is closed beyond this. Default 200.
   */
  maxPools?: number;
  /** Idle connections close after this long, so a rarely used database holds none. Default 30 s. */
  idleTimeoutMs?: number;
}

/** What the gateway's code gets to run statements on a data-plane database. */
export interface DataPlanePool {
  // biome-ignore lint/suspicious/noExplicitAny: the default of pg's own QueryResultRow generic
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** A connection for a transaction; `release()` it. */
  connect(): Promise<pg.PoolClient>;
}

/**
 * The gateway's hands on the Twenty data plane: ONE bounded pool per data-plane database (a
 * cluster's shared database, or a tenant's dedicated one), opened on first use and shared by
 * every tenant placed there: sign-in reads credentials through it and the tenant API reads and
 * writes workspace records through it. Never a pool per tenant.
 *
 * Two bounds: `maxConnections` per database, and `maxTotalConnections` across all of them, so
 * tenants with dedicated databases cannot multiply the gateway's connections. Every checkout
 * takes one of `maxTotalConnections` permits (bounding connections in use); a database that
 * needs a new connection while the total open is at the bound first closes an idle one of
 * another database. Every statement has a timeout, so one slow tenant cannot hold a connection
 * for long.
 */
export class ClusterPools {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly bounded = new WeakMap<pg.Pool, DataPlanePool>();
  private readonly total: number;
  private permits: number;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    private readonly options: ClusterPoolsOptions,
  ) {
    this.total = options.maxTotalConnections ?? options.maxConnections;
    this.permits = this.total;
  }

  /** Connections open on every data-plane database together (in use and idle). */
  get openConnections(): number {
    let open = 0;
    for (const pool of this.pools.values()) open += pool.totalCount;
    return open;
  }

  get size(): number {
    return this.pools.size;
  }

  /** The pools open now, by `<region>/<cluster>/<database>` (for the connection gauges). */
  openPools(): Iterable<readonly [string, pg.Pool]> {
    return this.pools.entries();
  }

  /** The pool of the database a tenant's workspace lives in (under the total bound). */
  poolFor(placement: TenantPlacement): DataPlanePool {
    const raw = this.rawPoolFor(placement);
    let pool = this.bounded.get(raw);
    if (!pool) {
      pool = {
        query: async (text, values) => {
          const client = await this.checkout(raw);
          try {
            const result = await client.query(text, values);
            client.release();
            return result;
          } catch (error) {
            // A statement error (it has a SQLSTATE) leaves the connection usable; anything else may not.
            client.release((error as { code?: unknown }).code === undefined ? (error as Error) : undefined);
            throw error;
          }
        },
        connect: () => this.checkout(raw),
      };
      this.bounded.set(raw, pool);
    }
    return pool;
  }

  private async checkout(raw: pg.Pool): Promise<pg.PoolClient> {
    await this.acquirePermit();
    try {
      this.makeRoomFor(raw);
      const client = await raw.connect();
      const release = client.release.bind(client);
      let released = false;
      client.release = (destroy?: Error | boolean) => {
        if (!released) {
          released = true;
          this.releasePermit();
        }
        return release(destroy);
      };
      return client;
    } catch (error) {
      this.releasePermit();
      throw error;
    }
  }

  /** About to check out of `raw`: if that opens a connection beyond the total, close an idle one elsewhere first. */
  private makeRoomFor(raw: pg.Pool): void {
    if (raw.idleCount > 0 || this.openConnections < this.total) return;
    for (const other of this.pools.values()) {
      if (other === raw || other.idleCount === 0) continue;
      // Checking out of a pool with an idle connection takes that one at once (synchronously):
      // released with `true`, it is closed instead of going back.
      other.connect().then(
        (client) => client.release(true),
        () => undefined,
      );
      return;
    }
  }

  private acquirePermit(): Promise<void> {
    if (this.permits > 0) {
      this.permits--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private releasePermit(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.permits++;
  }

  /** The raw pool of a database (per-database bound only). */
  private rawPoolFor(placement: TenantPlacement): pg.Pool {
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
      application_name: DATA_PLANE_APPLICATION_NAME,
      idleTimeoutMillis: this.options.idleTimeoutMs ?? 30_000,
      connectionTimeoutMillis: 5_000,
      options: '-c statement_timeout=5000 -c idle_in_transaction_session_timeout=10000',
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

export { withDatabase };
