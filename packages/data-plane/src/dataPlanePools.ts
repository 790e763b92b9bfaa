import {
  type Catalog,
  type Cluster,
  type ConnectionBudgetSnapshot,
  databaseOf,
  type Logger,
  type ServiceContext,
  trackConnectionBudgets,
  trackPools,
  withDatabase,
} from '@ttm/service-kit';
import pg from 'pg';
import { ConnectionBudgetExhausted, processLimit, ServerBudget } from './connectionBudget.js';
import { type DatabaseAddress, databaseKey } from './placement.js';

export interface DataPlanePoolsOptions {
  /** `application_name` of the sessions, to count them in pg_stat_activity (`ttm-backup`, ...). */
  applicationName: string;
  /** Connections per data-plane database. */
  maxConnections: number;
  /**
   * The deployment-wide budget: every service together holds at most this percentage of each
   * PostgreSQL server's max_connections (read from the server on first use). With `budgetShare`.
   */
  budgetPercent?: number;
  /** This process's share of that budget, in percent (`DATA_PLANE_BUDGET_SHARES`). */
  budgetShare?: number;
  /**
   * An explicit bound on this process's connections per PostgreSQL server (every database on it
   * together); the lower of this and the budget share applies. Unset with no budget: unbounded.
   * When bounded, tenants with dedicated databases add pools, not connections: every checkout
   * takes a permit, and a database that needs a new connection while the server's sessions are at
   * the bound first closes an idle one of another database (least recently used first).
   */
  maxTotalConnections?: number;
  /** How long a checkout waits for a permit before `ConnectionBudgetExhausted`. Default 2 s. */
  acquireTimeoutMs?: number;
  /** Most pools kept open at once; beyond, the least recently used one is closed. Default unbounded. */
  maxPools?: number;
  /** Idle connections to a cluster's shared database close after this long. Default 10 s. */
  idleTimeoutMs?: number;
  /** Idle connections to a tenant's dedicated database close after this long. Default 1 s. */
  dedicatedIdleTimeoutMs?: number;
  /** How long a new connection may take; default pg's (none). */
  connectionTimeoutMs?: number;
  /** Session settings sent at connect, e.g. `-c statement_timeout=5000`. */
  sessionOptions?: string;
  /**
   * Tenant affinity (`DATA_PLANE_POOL_SHARDS`): a cluster's shared database gets this many pools
   * that split its `maxConnections`, and a tenant's statements always go to the same one (by its
   * schema). PostgreSQL keeps the catalog entries of every table a session has touched for the
   * session's life (about 31 KB per workspace for one table with its indexes, measured), so a
   * session that serves every tenant of a 10,000-schema database holds hundreds of MB and loads
   * each workspace's entries once per session; with N shards each session sees 1/N of the
   * schemas. It also bounds what one tenant can hold of its database's connections. Default 1.
   */
  tenantShards?: number;
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
  /** Budgets by server (`host:port`): two configured clusters on one server share one. */
  private readonly budgets = new Map<string, Promise<ServerBudget>>();
  private readonly budgetByServer = new Map<string, ServerBudget>();
  /** Checkouts that will take an idle connection of a pool, not yet handed out by pg-pool. */
  private readonly claims = new WeakMap<pg.Pool, number>();
  /** Checkouts waiting for a connection of a pool to come back (the pool holds its fair share). */
  private readonly releaseWaiters = new WeakMap<pg.Pool, (() => void)[]>();
  /**
   * Checkouts under way, by pool key, from the call until a connection is handed over (waiting
   * for a permit of the budget included): a database with one is busy, even at the instant all
   * its connections sit idle between two statements.
   */
  private readonly underWay = new Map<string, number>();
  private readonly bound: boolean;
  private closed = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    private readonly options: DataPlanePoolsOptions,
  ) {
    this.bound =
      options.maxTotalConnections !== undefined ||
      (options.budgetPercent !== undefined && options.budgetShare !== undefined);
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

  /**
   * The budget of every server this process has used so far (none when unbounded): what the
   * `ttm_data_plane_*` gauges show (`trackConnectionBudgets` of service-kit).
   */
  budgetSnapshots(): ConnectionBudgetSnapshot[] {
    return [...this.budgetByServer.values()].map((budget) => budget.snapshot());
  }

  /** This process's connection limit on the server of a cluster (reads max_connections once). */
  async limitOn(address: Pick<DatabaseAddress, 'region' | 'cluster'>): Promise<number> {
    return (await this.budgetOf(address))?.limit ?? Number.POSITIVE_INFINITY;
  }

  /**
   * The pool of a data-plane database (under this process's budget, if there is one). With
   * `tenantShards` and the address of a workspace on its cluster's shared database, the pool of
   * that workspace's shard.
   */
  poolFor(address: DatabaseAddress & { schema?: string }): DataPlanePool {
    const shard = this.shardOf(address);
    const raw = this.rawPoolFor(address, shard);
    let pool = this.bounded.get(raw);
    if (!pool) {
      pool = {
        query: async (text, values) => {
          const client = await this.checkout(address, shard);
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
        connect: () => this.checkout(address, shard),
      };
      this.bounded.set(raw, pool);
    }
    return pool;
  }

  /**
   * Run a statement that cannot run inside the target database (CREATE/DROP DATABASE) on the
   * cluster's `postgres` database, over a connection of its own (inside the budget).
   */
  async adminQuery(address: Pick<DatabaseAddress, 'region' | 'cluster'>, sql: string): Promise<void> {
    const cluster = this.cluster(address.region, address.cluster);
    const budget = await this.budgetOf(address);
    if (budget) {
      await budget.acquire();
      try {
        await this.makeRoom(budget);
      } catch (error) {
        budget.release();
        throw error;
      }
      budget.opening();
    }
    const client = new pg.Client({
      connectionString: withDatabase(cluster.url, 'postgres'),
      application_name: this.options.applicationName,
    });
    // A lost connection surfaces in the awaited query; unheard, its `error` event would end the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query(sql);
    } finally {
      await client.end().catch(() => undefined);
      budget?.doneOpening();
      budget?.release();
    }
  }

  /** Close the pool (or the shards' pools) of one database (before it is dropped). */
  async closePool(address: DatabaseAddress): Promise<void> {
    const key = databaseKey(address);
    const closing: pg.Pool[] = [];
    for (const [poolKey, pool] of this.pools) {
      if (poolKey !== key && !poolKey.startsWith(`${key}#`)) continue;
      this.pools.delete(poolKey);
      closing.push(pool);
    }
    await Promise.all(closing.map((pool) => pool.end()));
  }

  /** The shard of a workspace on its cluster's shared database; none for a dedicated database or without shards. */
  private shardOf(address: DatabaseAddress & { schema?: string }): Shard | undefined {
    // At least two connections a shard: one slow statement must not stall a tenant's shard.
    const shards = Math.min(this.options.tenantShards ?? 1, Math.floor(this.options.maxConnections / 2));
    if (shards <= 1 || address.schema === undefined) return undefined;
    if (address.database !== databaseOf(this.cluster(address.region, address.cluster).url)) return undefined;
    const index = hashOf(address.schema) % shards;
    // maxConnections split over the shards, the remainder going to the first ones.
    const max =
      Math.floor(this.options.maxConnections / shards) + (index < this.options.maxConnections % shards ? 1 : 0);
    return { index, max };
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.end()));
  }

  private async checkout(address: DatabaseAddress, shard?: Shard): Promise<pg.PoolClient> {
    const key = poolKeyOf(address, shard);
    this.underWay.set(key, (this.underWay.get(key) ?? 0) + 1);
    try {
      return await this.checkoutUnderWay(address, shard);
    } finally {
      const left = (this.underWay.get(key) ?? 1) - 1;
      if (left > 0) this.underWay.set(key, left);
      else this.underWay.delete(key);
    }
  }

  private async checkoutUnderWay(address: DatabaseAddress, shard?: Shard): Promise<pg.PoolClient> {
    const started = Date.now();
    const budget = await this.budgetOf(address);
    if (!budget) return this.rawPoolFor(address, shard).connect();
    const waitLimitMs = this.options.acquireTimeoutMs ?? 2_000;
    // A pool at its own maximum with nothing idle: wait in pg-pool's own line (first come, first
    // served) for one of its sessions. That opens nothing, so it takes no permit: a checkout
    // queued on a busy pool (a busy tenant's shard) never holds a permit that another pool with
    // idle connections could use.
    const own = this.rawPoolFor(address, shard);
    if (own.totalCount >= (shard?.max ?? this.options.maxConnections) && own.idleCount <= (this.claims.get(own) ?? 0)) {
      const client = await this.queueOn(own, budget);
      return this.tracked(own, client, undefined, () => budget.returnedToPool());
    }
    await budget.acquire();
    let raw: pg.Pool;
    let claim = false;
    let full = false;
    try {
      for (;;) {
        raw = this.rawPoolFor(address, shard);
        const claimed = this.claims.get(raw) ?? 0;
        if (raw.idleCount > claimed) {
          this.claims.set(raw, claimed + 1);
          claim = true;
          break;
        }
        // The pool filled up meanwhile: its own line, as above (the permit goes back first).
        if (raw.totalCount >= (shard?.max ?? this.options.maxConnections)) {
          full = true;
          break;
        }
        // Room: pool.connect() below opens the session at once (counted by `BudgetedClient`
        // from that moment), so no other checkout sees this room too.
        if (budget.hasRoom) break;
        // At the limit: a database already holding its fair share waits for one of its own
        // connections rather than take one from another busy database. Taking turns would close
        // and open a session per checkout (two busy cluster databases on one server collapsed
        // to a tenth of their throughput that way).
        // Waiting holds a permit: never past the wait limit (sessions handed over in a pool's
        // own line hold none, so a permit alone does not mean a session will come back).
        const waited = Date.now() - started;
        if (waited >= waitLimitMs) {
          budget.countTimeout();
          throw new ConnectionBudgetExhausted(
            budget.server,
            budget.limit,
            waited,
            Math.max(1, Math.ceil(waitLimitMs / 1000)),
          );
        }
        if (raw.totalCount >= this.fairShare(budget, raw)) {
          await this.nextRelease(raw, 250);
          continue;
        }
        await this.closeIdle(budget, raw);
      }
    } catch (error) {
      budget.release();
      throw error;
    }
    if (full) {
      budget.release();
      const client = await this.queueOn(raw, budget, Math.max(1, waitLimitMs - (Date.now() - started)));
      return this.tracked(raw, client, undefined, () => budget.returnedToPool());
    }
    const pool = raw;
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      budget.release();
      throw error;
    } finally {
      if (claim) this.claims.set(pool, Math.max(0, (this.claims.get(pool) ?? 1) - 1));
    }
    return this.tracked(pool, client, budget);
  }

  /** The client, its release giving back the budget's permit (if it took one) and waking a waiter of its pool. */
  private tracked(
    pool: pg.Pool,
    client: pg.PoolClient,
    budget: ServerBudget | undefined,
    returned?: () => void,
  ): pg.PoolClient {
    const release = client.release.bind(client);
    let released = false;
    client.release = (destroy?: Error | boolean) => {
      const result = release(destroy);
      if (!released) {
        released = true;
        budget?.release();
        returned?.();
        // One connection came back: one waiter (the longest waiting) may take it.
        this.releaseWaiters.get(pool)?.shift()?.();
      }
      return result;
    };
    return client;
  }

  /** Wait in the line of a full pool for one of its sessions, at most the wait limit. */
  private async queueOn(
    pool: pg.Pool,
    budget: ServerBudget,
    waitLimitMs = this.options.acquireTimeoutMs ?? 2_000,
  ): Promise<pg.PoolClient> {
    const started = Date.now();
    const inLine = budget.queueInPool();
    const pending = pool.connect();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        budget.countTimeout();
        reject(
          new ConnectionBudgetExhausted(
            budget.server,
            pool.options.max,
            Date.now() - started,
            Math.max(1, Math.ceil(waitLimitMs / 1000)),
          ),
        );
      }, waitLimitMs);
    });
    try {
      const client = await Promise.race([pending, timedOut]);
      inLine(true);
      return client;
    } catch (error) {
      inLine(false);
      // Given up: the session it would have been handed goes straight back.
      if (error instanceof ConnectionBudgetExhausted)
        pending.then(
          (client) => client.release(),
          () => undefined,
        );
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The connections a database may hold on its server while the server is at the limit: the
   * limit split evenly over the databases there that are busy now (this one included): with a
   * connection checked out or a checkout under way. A database whose connections all sit idle,
   * with no checkout under way, competes for nothing: its idle connections are there to be taken.
   */
  private fairShare(budget: ServerBudget, pool: pg.Pool): number {
    let holders = 1;
    for (const [key, other] of this.pools) {
      if (other === pool || this.serverOf(key) !== budget.server) continue;
      const busy = other.totalCount > other.idleCount || other.waitingCount > 0 || this.underWay.has(key);
      if (busy) holders++;
    }
    return Math.max(1, Math.floor(budget.limit / holders));
  }

  /** Resolves when a connection of `pool` is released, or after `maxMs` (the caller looks again). */
  private nextRelease(pool: pg.Pool, maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.releaseWaiters.get(pool) ?? [];
      this.releaseWaiters.set(pool, waiters);
      const timer = setTimeout(() => {
        const at = waiters.indexOf(wake);
        if (at >= 0) waiters.splice(at, 1);
        resolve();
      }, maxMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      waiters.push(wake);
    });
  }

  /** Wait until the server's sessions are under the limit, closing idle ones of other databases. */
  private async makeRoom(budget: ServerBudget, except?: pg.Pool): Promise<void> {
    while (!budget.hasRoom) await this.closeIdle(budget, except);
  }

  /** Close the least recently used idle connection on the budget's server (not `except`'s), then wait for a close. */
  private async closeIdle(budget: ServerBudget, except?: pg.Pool): Promise<void> {
    for (const [key, other] of this.pools) {
      if (other === except || other.idleCount <= (this.claims.get(other) ?? 0)) continue;
      if (this.serverOf(key) !== budget.server) continue;
      // Checking out of a pool with an idle connection hands that one over: released with
      // `true`, it is closed instead of going back. Claimed like a checkout's, so neither a
      // checkout of that database nor another closeIdle counts on the same idle connection
      // (pg-pool would open a new session, outside the budget, for whichever came second).
      this.claims.set(other, (this.claims.get(other) ?? 0) + 1);
      const unclaim = () => this.claims.set(other, Math.max(0, (this.claims.get(other) ?? 1) - 1));
      other.connect().then((client) => {
        unclaim();
        client.release(true);
      }, unclaim);
      break;
    }
    // A session that is closing (ours, or an idle timeout) frees room once its socket is gone.
    await budget.nextClose(250);
  }

  private budgetOf(address: Pick<DatabaseAddress, 'region' | 'cluster'>): Promise<ServerBudget | undefined> {
    if (!this.bound) return Promise.resolve(undefined);
    const cluster = this.cluster(address.region, address.cluster);
    const server = serverOf(cluster.url);
    let budget = this.budgets.get(server);
    if (!budget) {
      budget = this.readBudget(server, cluster.url);
      this.budgets.set(server, budget);
      // A server that could not be asked is asked again next time.
      budget.catch(() => this.budgets.delete(server));
    }
    return budget;
  }

  private async readBudget(server: string, url: string): Promise<ServerBudget> {
    const { budgetPercent, budgetShare, maxTotalConnections } = this.options;
    let maxConnections = Number.POSITIVE_INFINITY;
    if (budgetPercent !== undefined && budgetShare !== undefined) {
      const client = new pg.Client({
        connectionString: withDatabase(url, 'postgres'),
        application_name: this.options.applicationName,
      });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const { rows } = await client.query<{ max_connections: string }>('SHOW max_connections');
        maxConnections = Number(rows[0]?.max_connections);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    const limit = processLimit({
      maxConnections,
      ...(budgetPercent === undefined ? {} : { budgetPercent }),
      ...(budgetShare === undefined ? {} : { share: budgetShare }),
      ...(maxTotalConnections === undefined ? {} : { cap: maxTotalConnections }),
    });
    this.logger.info(
      { server, maxConnections, budgetPercent, budgetShare, limit },
      'data-plane connection budget of this process on a PostgreSQL server',
    );
    const budget = new ServerBudget(server, limit, this.options.acquireTimeoutMs ?? 2_000);
    this.budgetByServer.set(server, budget);
    return budget;
  }

  private serverOf(poolKey: string): string | undefined {
    const [region, cluster] = poolKey.split('/');
    const configured = this.catalog.region(region ?? '')?.clusters.find((c) => c.name === cluster);
    return configured ? serverOf(configured.url) : undefined;
  }

  private rawPoolFor(address: DatabaseAddress, shard?: Shard): pg.Pool {
    if (this.closed) throw new Error('data-plane pools are closed (the service is stopping)');
    const key = poolKeyOf(address, shard);
    const existing = this.pools.get(key);
    if (existing) {
      // Map order is the eviction order: move the pool to the most recently used end.
      this.pools.delete(key);
      this.pools.set(key, existing);
      return existing;
    }
    const cluster = this.cluster(address.region, address.cluster);
    const dedicated = address.database !== databaseOf(cluster.url);
    const server = serverOf(cluster.url);
    const pool = new pg.Pool({
      // Every session pg-pool opens counts on the server's budget while it connects: those
      // a checkout asked for, and those pg-pool opens by itself for a checkout in its line
      // after one of its sessions was destroyed.
      ...((this.bound
        ? { Client: BudgetedClient, budget: () => this.budgetByServer.get(server) }
        : {}) as pg.PoolConfig),
      connectionString: this.urlOf(address),
      max: shard?.max ?? this.options.maxConnections,
      application_name: this.options.applicationName,
      // A dedicated database serves one tenant: its connections are rarely reused soon.
      idleTimeoutMillis: dedicated
        ? (this.options.dedicatedIdleTimeoutMs ?? 1_000)
        : (this.options.idleTimeoutMs ?? 10_000),
      ...(this.options.connectionTimeoutMs === undefined
        ? {}
        : { connectionTimeoutMillis: this.options.connectionTimeoutMs }),
      ...(this.options.sessionOptions === undefined ? {} : { options: this.options.sessionOptions }),
    });
    pool.on('error', (error) => this.logger.warn({ err: error, database: key }, 'idle data-plane client failed'));
    // Checked-out clients too: a lost connection must not become an uncaught exception.
    pool.on('connect', (client) => {
      client.on('error', (error) => this.logger.debug({ err: error, database: key }, 'data-plane connection lost'));
    });
    if (this.bound) {
      // A pool connects only after a checkout found the server's budget, so it is known here.
      pool.on('connect', () => this.budgetByServer.get(server)?.sessionOpened());
      pool.on('remove', () => {
        this.budgetByServer.get(server)?.sessionClosed();
        // A dedicated database's pool with no connection left is forgotten (a later request opens it again).
        if (dedicated && pool.totalCount === 0 && pool.waitingCount === 0 && this.pools.get(key) === pool) {
          this.pools.delete(key);
          pool.end().catch(() => undefined);
        }
      });
    }
    this.pools.set(key, pool);
    this.evictBeyondLimit();
    return pool;
  }

  private evictBeyondLimit(): void {
    const limit = this.options.maxPools ?? Number.POSITIVE_INFINITY;
    for (const [key, pool] of this.pools) {
      if (this.pools.size <= limit) return;
      this.pools.delete(key);
      // Clients checked out right now finish their query; the pool closes them when released.
      pool.end().catch((error: unknown) => this.logger.warn({ err: error, key }, 'closing a data-plane pool failed'));
    }
  }
}

/** One of a shared database's tenant-affine pools, and the connections it may hold. */
interface Shard {
  index: number;
  max: number;
}

/**
 * A pg client counting its session as opening on its server's budget (`budget` in the pool's
 * options) from the moment pg-pool asks it to connect until it connected or failed; pg-pool's
 * `connect` event then counts it as open.
 */
class BudgetedClient extends pg.Client {
  private readonly budgetNow: (() => ServerBudget | undefined) | undefined;

  constructor(config: pg.ClientConfig & { budget?: () => ServerBudget | undefined }) {
    super(config);
    this.budgetNow = config.budget;
  }

  override connect(): Promise<pg.Client>;
  override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
  override connect(
    callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void),
  ): Promise<pg.Client> | undefined {
    const budget = this.budgetNow?.();
    budget?.opening();
    let done = false;
    const opened = () => {
      if (done) return;
      done = true;
      budget?.doneOpening();
    };
    if (callback) {
      super.connect((...args: [Error | null, pg.Client?]) => {
        opened();
        (callback as (...args: [Error | null, pg.Client?]) => void)(...args);
      });
      return undefined;
    }
    return super.connect().finally(opened);
  }
}

/** The key of a database's pool (`<region>/<cluster>/<database>`), with `#<i>` for shard i. */
function poolKeyOf(address: DatabaseAddress, shard?: Shard): string {
  return shard ? `${databaseKey(address)}#${shard.index}` : databaseKey(address);
}

/** A stable, well-spread number of a schema name (FNV-1a, 32 bits). */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** `host:port` of a PostgreSQL URL: what max_connections applies to. */
function serverOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}`;
}

/** What a service reports and closes of its data-plane pools: `DataPlanePools`, or a class around them. */
export type ServedPools = Pick<DataPlanePools, 'openPools' | 'budgetSnapshots' | 'close'>;

/**
 * A service takes on its data-plane pools: their connection gauges and budget (source
 * `data-plane`) on its metrics, and their close with its lifecycle. Returns `pools`.
 */
export function adoptDataPlane<P extends ServedPools>(
  service: Pick<ServiceContext<unknown>, 'metrics' | 'lifecycle'>,
  pools: P,
): P {
  trackPools(service.metrics, 'data-plane', () => pools.openPools());
  trackConnectionBudgets(service.metrics, 'data-plane', () => pools.budgetSnapshots());
  service.lifecycle.onStop('data plane', () => pools.close());
  return pools;
}
