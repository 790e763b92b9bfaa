import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger.js';

export type { Pool, PoolClient } from 'pg';

export interface PoolOptions {
  connectionString: string;
  /** Upper bound of connections this process opens to this database. */
  max?: number;
  applicationName: string;
}

/**
 * A bounded pool; errors of its clients are logged instead of crashing the process, idle or
 * checked out (`keepClientErrors`).
 */
export function createPool(options: PoolOptions, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (error) => logger.warn({ err: error }, 'idle PostgreSQL client failed'));
  keepClientErrors(pool, logger);
  return pool;
}

/**
 * A client whose connection ends unexpectedly (PostgreSQL restarting) emits `error`, and pg-pool
 * listens only while the client is idle: one checked out at that moment (a projection's lead, a
 * long transaction) would throw it as an uncaught exception and end the process. Listen on every
 * client for its whole life; its next query fails ("not queryable"), a transient error the caller
 * handles.
 */
export function keepClientErrors(pool: pg.Pool, logger: Logger, fields: object = {}): void {
  pool.on('connect', (client) => {
    client.on('error', (error) => logger.debug({ ...fields, err: error }, 'PostgreSQL connection lost'));
  });
}

/** Create the database of `connectionString` if it does not exist (needs CREATEDB on the server). */
export async function ensureDatabase(connectionString: string): Promise<void> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!name) throw new Error(`DATABASE_URL "${url.origin}" names no database`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  // A lost connection surfaces in the awaited query; unheard, its `error` event would end the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((error: { code?: string }) => {
        // 42P04 exists; 23505 (unique violation on pg_database): created at the same moment by
        // another process, which committed first. Both mean it is there now.
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

/**
 * Apply a service's SQL migrations (files in `dir`, `NNN_name.sql` with `-- Up Migration`)
 * to its own schema. node-pg-migrate serialises concurrent runners with an advisory lock
 * and records what ran in `<schema>.pgmigrations`.
 */
export async function migrate(pool: pg.Pool, schema: string, dir: string, logger: Logger): Promise<string[]> {
  const client = await pool.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir,
      direction: 'up',
      schema,
      createSchema: true,
      migrationsTable: 'pgmigrations',
      migrationsSchema: schema,
      createMigrationsSchema: true,
      checkOrder: true,
      // Five services start together against one database: wait for the lock, don't fail.
      advisoryLockMode: 'wait',
      log: (message: string) => logger.debug({ schema }, message),
    });
    const names = applied.map((m) => m.name);
    if (names.length > 0) logger.info({ schema, migrations: names }, 'applied migrations');
    return names;
  } finally {
    client.release();
  }
}

/**
 * Run `work` in a transaction on one client; roll back on any error. `begin` opens the
 * transaction (`BEGIN` by default): a caller that checks something in the same round trip, or
 * refuses to go on, passes its own.
 */
export async function inTransaction<T>(
  pool: { connect(): Promise<pg.PoolClient> },
  work: (client: pg.PoolClient) => Promise<T>,
  begin: (client: pg.PoolClient) => Promise<unknown> = (client) => client.query('BEGIN'),
): Promise<T> {
  const client = await pool.connect();
  try {
    await begin(client);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export async function pingPostgres(pool: pg.Pool): Promise<boolean> {
  const result = await pool.query('SELECT 1 AS ok');
  return result.rows.length === 1;
}

/** Pools to report: one pool, or a map of them (data-plane pools by database) read at each scrape. */
export type PoolSource = pg.Pool | (() => Iterable<readonly [string, pg.Pool]>);

const trackedPools = new WeakMap<Registry, Map<string, PoolSource>>();

/**
 * Report a pool's connections on `registry` as gauges labelled `pool` (`control-plane`, or
 * `<name>:<region>/<cluster>/<database>` for each pool of a map): `database_connections_total`
 * (open), `_idle`, `_waiting` (callers queued for a connection) and `_max`. Read at scrape time.
 */
export function trackPools(registry: Registry, name: string, source: PoolSource): void {
  let sources = trackedPools.get(registry);
  if (!sources) {
    const tracked = new Map<string, PoolSource>();
    sources = tracked;
    trackedPools.set(registry, tracked);
    const each = (visit: (label: string, pool: pg.Pool) => void) => {
      for (const [prefix, s] of tracked) {
        if (s instanceof pg.Pool) visit(prefix, s);
        else for (const [key, pool] of s()) visit(`${prefix}:${key}`, pool);
      }
    };
    const gauge = (suffix: string, help: string, read: (pool: pg.Pool) => number) =>
      new Gauge({
        name: `database_connections${suffix}`,
        help,
        labelNames: ['pool'],
        registers: [registry],
        collect() {
          this.reset();
          each((label, pool) => this.set({ pool: label }, read(pool)));
        },
      });
    gauge('_total', 'PostgreSQL connections open in the pool', (p) => p.totalCount);
    gauge('_idle', 'PostgreSQL connections open and idle in the pool', (p) => p.idleCount);
    gauge('_waiting', 'Queries waiting for a connection of the pool', (p) => p.waitingCount);
    gauge('_max', 'Most connections the pool opens', (p) => p.options.max ?? 10);
  }
  sources.set(name, source);
}

/** A process's connection budget on one PostgreSQL server (`DataPlanePools.budgetSnapshots()` of @ttm/data-plane). */
export interface ConnectionBudgetSnapshot {
  /** `host:port`. */
  server: string;
  /** Most sessions this process may hold on the server. */
  budget: number;
  /** Sessions open or opening (in use and idle). */
  held: number;
  /** Permits taken: connections checked out for a statement or a transaction. */
  checkedOut: number;
  /** Checkouts waiting for a permit. */
  waiters: number;
  /** Checkouts that waited past the limit, since the process started. */
  acquireTimeouts: number;
}

const trackedBudgets = new WeakMap<Registry, Map<string, () => Iterable<ConnectionBudgetSnapshot>>>();

/**
 * Report this process's data-plane connection budget on `registry`, per PostgreSQL server
 * (`server`, `host:port`) and source (`pools`, e.g. `data-plane`), read at scrape time:
 * `ttm_data_plane_connection_budget` (most sessions this process may hold there),
 * `ttm_data_plane_connections_held` (open or opening, idle ones included),
 * `ttm_data_plane_connections_checked_out`, `ttm_data_plane_budget_waiters` (checkouts queued for
 * a permit or in a full pool's own line) and the counter `ttm_data_plane_acquire_timeouts_total` (checkouts that gave up:
 * 503 at the gateway, a retried step elsewhere). A server appears once the process has used it.
 */
export function trackConnectionBudgets(
  registry: Registry,
  name: string,
  source: () => Iterable<ConnectionBudgetSnapshot>,
): void {
  let sources = trackedBudgets.get(registry);
  if (!sources) {
    const tracked = new Map<string, () => Iterable<ConnectionBudgetSnapshot>>();
    sources = tracked;
    trackedBudgets.set(registry, tracked);
    const each = (visit: (labels: { pools: string; server: string }, budget: ConnectionBudgetSnapshot) => void) => {
      for (const [pools, read] of tracked) for (const budget of read()) visit({ pools, server: budget.server }, budget);
    };
    const gauge = (metric: string, help: string, read: (budget: ConnectionBudgetSnapshot) => number) =>
      new Gauge({
        name: `ttm_data_plane_${metric}`,
        help,
        labelNames: ['pools', 'server'],
        registers: [registry],
        collect() {
          this.reset();
          each((labels, budget) => this.set(labels, read(budget)));
        },
      });
    gauge('connection_budget', 'Most PostgreSQL sessions this process may hold on the server', (b) => b.budget);
    gauge('connections_held', 'PostgreSQL sessions this process holds on the server (open or opening)', (b) => b.held);
    gauge('connections_checked_out', 'Sessions checked out for a statement or transaction', (b) => b.checkedOut);
    gauge(
      'budget_waiters',
      "Checkouts waiting for a connection: for a permit of the budget, or in a full pool's own line",
      (b) => b.waiters,
    );
    new Counter({
      name: 'ttm_data_plane_acquire_timeouts_total',
      help: 'Checkouts that waited past DATA_PLANE_ACQUIRE_TIMEOUT for a permit (ConnectionBudgetExhausted)',
      labelNames: ['pools', 'server'],
      registers: [registry],
      collect() {
        this.reset();
        each((labels, budget) => this.inc(labels, budget.acquireTimeouts));
      },
    });
  }
  sources.set(name, source);
}

const TRANSIENT_SQLSTATE = /^(08|53|57P0[123]|40001|40P01)/;
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
const TRANSIENT_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|connection error|Client was closed/i;

/**
 * PostgreSQL is down, restarting, overloaded, or asked us to retry (deadlock, serialization):
 * SQLSTATE classes 08 and 53, 57P01–57P03, 40001, 40P01, a socket that could not connect or was
 * cut, pg's own connect timeout; or an error that says so itself (`transient: true`, such as a
 * connection budget that stayed exhausted past its wait limit).
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if ((error as { transient?: unknown }).transient === true) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE_CODES.has(code))) return true;
  return TRANSIENT_MESSAGES.test(error.message);
}
