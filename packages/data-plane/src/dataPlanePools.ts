import { type Catalog, type Cluster, type Logger, withDatabase } from '@ttm/service-kit';
import pg from 'pg';
import { type DatabaseAddress, databaseKey } from './placement.js';

export interface DataPlanePoolsOptions {
  /** `application_name` of the sessions, to count them in pg_stat_activity (`ttm-backup`, ...). */
  applicationName: string;
  /** Connections per data-plane database. */
  maxConnections: number;
  /**
   * Connections across every data-plane database together; default unbounded (each database
   * only has `maxConnections`). With it, tenants with dedicated databases add pools, not
   * connections: every checkout takes one of these permits, and a database that needs a new
   * connection while the total open is at the bound first closes an idle one of another.
   */
  maxTotalConnections?: number;
  /** Most pools kept open at once; beyond, the least recently used one is closed. Default 200. */
  maxPools?: number;
  /** Idle connections close after this long, so a rarely used database holds none. Default 10 s. */
  idleTimeoutMs?: number;
  /** How long a new connection may take; default pg's (none). */
  connectionTimeoutMs?: number;
  /** Session settings sent at connect, e.g. `-c statement_timeout=5000`. */
  sessionOptions?: string;
}

/** What code gets to run statements on a data-plane database. */
export interface DataPlanePool {
  // biome-ignore lint/suspicious/noExplicitAny: the default of pg's own QueryResultRow generic
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** A connection for a transaction (`inTransaction`); `release()` it. */
  connect(): Promise<pg.PoolClient>;
}

/**
 * A process's connections to the Twenty data plane: ONE bounded pool per data-plane database
 * (a cluster's shared database, or a tenant's dedicated one), opened on first use and shared
 * by every tenant placed there. Never a pool per tenant. This class is the only place that
 * opens such pools, so the bound across all of them (`maxTotalConnections`) is kept here.
 */
export class DataPlanePools {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly bounded = new WeakMap<pg.Pool, DataPlanePool>();
  private readonly total: number;
  private permits: number;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    private readonly options: DataPlanePoolsOptions,
  ) {
    this.total = options.maxTotalConnections ?? Number.POSITIVE_INFINITY;
    this.permits = this.total;
  }

  /** The configured cluster, or an error naming what to configure. */
  cluster(region: string, clusterName: string): Cluster {
    const cluster = this.catalog.region(region)?.clusters.find((c) => c.name === clusterName);
    if (!cluster) throw new Error(`cluster ${clusterName} is not configured in region ${region} (REGIONS)`);
    return cluster;
  }

  /** The connection string of a data-plane database. */
  urlOf(address: DatabaseAddress): string {
    return withDatabase(this.cluster(address.region, address.cluster).url, address.database);
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

  /** The pool of a data-plane database (under the total bound, if there is one). */
  poolFor(address: DatabaseAddress): DataPlanePool {
    const raw = this.rawPoolFor(address);
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

  /**
   * Run a statement that cannot run inside the target database (CREATE/DROP DATABASE) on the
   * cluster's `postgres` database, over a connection of its own.
   */
  async adminQuery(address: Pick<DatabaseAddress, 'region' | 'cluster'>, sql: string): Promise<void> {
    const cluster = this.cluster(address.region, address.cluster);
    const client = new pg.Client({
      connectionString: withDatabase(cluster.url, 'postgres'),
      application_name: this.options.applicationName,
    });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  /** Close the pool of one database (before it is dropped). */
  async closePool(address: DatabaseAddress): Promise<void> {
    const key = databaseKey(address);
    const pool = this.pools.get(key);
    this.pools.delete(key);
    await pool?.end();
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.end()));
  }

  private async checkout(raw: pg.Pool): Promise<pg.PoolClient> {
    if (this.total === Number.POSITIVE_INFINITY) return raw.connect();
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

  private rawPoolFor(address: DatabaseAddress): pg.Pool {
    if (this.closed) throw new Error('data-plane pools are closed (the service is stopping)');
    const key = databaseKey(address);
    const existing = this.pools.get(key);
    if (existing) {
      // Map order is the eviction order: move the pool to the most recently used end.
      this.pools.delete(key);
      this.pools.set(key, existing);
      return existing;
    }
    const pool = new pg.Pool({
      connectionString: this.urlOf(address),
      max: this.options.maxConnections,
      application_name: this.options.applicationName,
      idleTimeoutMillis: this.options.idleTimeoutMs ?? 10_000,
      ...(this.options.connectionTimeoutMs === undefined
        ? {}
        : { connectionTimeoutMillis: this.options.connectionTimeoutMs }),
      ...(this.options.sessionOptions === undefined ? {} : { options: this.options.sessionOptions }),
    });
    pool.on('error', (error) => this.logger.warn({ err: error, database: key }, 'idle data-plane client failed'));
    this.pools.set(key, pool);
    this.evictBeyondLimit();
    return pool;
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
