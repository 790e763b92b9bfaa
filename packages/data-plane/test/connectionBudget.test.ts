import { createLogger, isTransientDatabaseError } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionBudgetExhausted, DataPlanePools } from '../src/index.js';
import {
  dedicatedDatabase,
  oneClusterCatalog,
  type PrivateCluster,
  startPrivateCluster,
} from './support/privateCluster.js';

const DATABASES = 200;
const MAX_CONNECTIONS = 40;
const logger = createLogger('test', 'silent');

let cluster: PrivateCluster;
let admin: pg.Client;
const names = Array.from({ length: DATABASES }, (_, i) => `tenant_db_${i}`);

beforeAll(async () => {
  cluster = await startPrivateCluster({ max_connections: MAX_CONNECTIONS });
  admin = new pg.Client({ connectionString: cluster.url(), application_name: 'ttm-test-admin' });
  await admin.connect();
  await admin.query('CREATE DATABASE shared');
  // A few at a time: each CREATE DATABASE is a checkpoint-free file copy with fsync off.
  for (let i = 0; i < names.length; i += 8) {
    await Promise.all(names.slice(i, i + 8).map((n) => admin.query(`CREATE DATABASE ${n} STRATEGY = FILE_COPY`)));
  }
}, 600_000);

afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await cluster?.stop();
}, 300_000);

const catalog = () => oneClusterCatalog(cluster);
const dedicated = dedicatedDatabase;

/** Sessions of our services on the private server, as PostgreSQL counts them. */
async function sessions(): Promise<Map<string, number>> {
  const { rows } = await admin.query<{ application_name: string; n: number }>(
    `SELECT application_name, count(*)::int AS n FROM pg_stat_activity
      WHERE application_name LIKE 'ttm-%' AND application_name <> 'ttm-test-admin' GROUP BY 1`,
  );
  return new Map(rows.map((r) => [r.application_name, r.n]));
}

describe('the deployment-wide connection budget', () => {
  it('holds with 200 dedicated databases used by every service at once', async () => {
    // The default shares: gateway 40 %, provisioner 20 %, backup 20 %, metering 10 % of 50 % of 40.
    const services = [
      ['ttm-gateway-dataplane', 40, 4],
      ['ttm-provisioner', 20, 4],
      ['ttm-backup', 20, 2],
      ['ttm-metering', 10, 2],
    ] as const;
    const pools = services.map(
      ([applicationName, share, maxConnections]) =>
        new DataPlanePools(catalog(), logger, {
          applicationName,
          maxConnections,
          budgetPercent: 50,
          budgetShare: share,
          acquireTimeoutMs: 120_000,
        }),
    );
    try {
      const limits = await Promise.all(pools.map((p) => p.limitOn({ region: 'r1', cluster: 'c1' })));
      expect(limits).toEqual([8, 4, 4, 2]);
      const budget = (MAX_CONNECTIONS * 50) / 100;

      let sampling = true;
      let most = 0;
      const mostBy = new Map<string, number>();
      const sampler = (async () => {
        while (sampling) {
          const now = await sessions();
          most = Math.max(
            most,
            [...now.values()].reduce((a, b) => a + b, 0),
          );
          for (const [name, n] of now) mostBy.set(name, Math.max(mostBy.get(name) ?? 0, n));
        }
      })();

      // Every service walks every database, 24 queries in flight each.
      const walk = async (pool: DataPlanePools) => {
        const order = [...names].sort(() => Math.random() - 0.5);
        let next = 0;
        const worker = async () => {
          let served = 0;
          while (next < order.length) {
            const db = order[next++]!;
            const { rows } = await pool
              .poolFor(dedicated(db))
              .query<{ db: string }>('SELECT current_database() AS db, pg_sleep(0.002)');
            expect(rows[0]!.db).toBe(db);
            served++;
          }
          return served;
        };
        const served = await Promise.all(Array.from({ length: 24 }, worker));
        return served.reduce((a, b) => a + b, 0);
      };
      const served = await Promise.all(pools.map(walk));
      sampling = false;
      await sampler;

      expect(served).toEqual([DATABASES, DATABASES, DATABASES, DATABASES]);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(budget);
      for (const [i, [name]] of services.entries()) {
        expect(mostBy.get(name) ?? 0).toBeLessThanOrEqual(limits[i]!);
      }
      // Idle dedicated connections close after a second: the fleet holds nothing while quiet.
      await expect
        .poll(async () => [...(await sessions()).values()].reduce((a, b) => a + b, 0), { timeout: 30_000 })
        .toBe(0);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  }, 300_000);

  it('two busy databases on one server at the limit keep their sessions instead of taking turns', async () => {
    // Each database's pool could hold the whole limit; together they must share it. A checkout
    // of a database already holding its share waits for one of its own connections: no session
    // is closed to open another, however long both stay busy.
    const limit = 4;
    const pools = new DataPlanePools(catalog(), logger, {
      applicationName: 'ttm-gateway-dataplane',
      maxConnections: limit,
      maxTotalConnections: limit,
      acquireTimeoutMs: 60_000,
    });
    const databases = [
      { region: 'r1', cluster: 'c1', kind: 'database' as const, database: 'shared', schema: 'ws' },
      dedicated(names[0]!),
    ];
    const pids = new Set<number>();
    try {
      let next = 0;
      const worker = async () => {
        for (let i = 0; i < 10; i++) {
          const database = databases[next++ % 2]!;
          const { rows } = await pools
            .poolFor(database)
            .query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.002)');
          pids.add(rows[0]!.pid);
        }
      };
      await Promise.all(Array.from({ length: 40 }, worker));
      // 400 queries over 4 sessions at a time: each database opened its share once (and may
      // have opened one more while the other still held fewer than its share).
      expect(pids.size).toBeLessThanOrEqual(2 * limit);
      expect(pools.openConnections).toBeLessThanOrEqual(limit);
    } finally {
      await pools.close();
    }
  }, 120_000);

  it('with tenant shards, a tenant always uses the same sessions of the shared database', async () => {
    const pools = new DataPlanePools(catalog(), logger, {
      applicationName: 'ttm-gateway-dataplane',
      maxConnections: 5,
      tenantShards: 2,
      maxTotalConnections: 20,
    });
    const workspace = (schema: string) => ({
      region: 'r1',
      cluster: 'c1',
      kind: 'schema' as const,
      database: 'shared',
      schema,
    });
    const schemas = Array.from({ length: 40 }, (_, i) => `workspace_${i.toString(36)}`);
    const sessionsOf = new Map<string, Set<number>>(schemas.map((s) => [s, new Set()]));
    try {
      await Promise.all(
        Array.from({ length: 400 }, async (_, i) => {
          const schema = schemas[i % schemas.length]!;
          const { rows } = await pools
            .poolFor(workspace(schema))
            .query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.001)');
          sessionsOf.get(schema)!.add(rows[0]!.pid);
        }),
      );
      // Two groups of sessions (3 and 2 of the 5), each tenant's statements inside one of them.
      const groups = new Map<string, Set<number>>();
      for (const [schema, pids] of sessionsOf) {
        const key = [...groups.keys()].find((k) => [...pids].some((pid) => groups.get(k)!.has(pid)));
        const group = groups.get(key ?? schema) ?? new Set<number>();
        for (const pid of pids) group.add(pid);
        groups.set(key ?? schema, group);
      }
      expect(groups.size).toBe(2);
      expect([...groups.values()].map((g) => g.size).sort()).toEqual([2, 3]);
      expect(pools.openConnections).toBe(5);
      // A dedicated database is one tenant's: no shards.
      const { rows } = await pools.poolFor(dedicated(names[1]!)).query<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await pools.close();
    }
  }, 120_000);

  it("counts a checkout waiting in a full pool's own line, and the session it is handed, in the gauges", async () => {
    const pools = new DataPlanePools(catalog(), logger, {
      applicationName: 'ttm-gateway-dataplane',
      maxConnections: 2,
      maxTotalConnections: 20,
      acquireTimeoutMs: 120_000,
    });
    const pool = pools.poolFor(dedicated(names[2]!));
    const gauges = () => {
      const [snapshot] = pools.budgetSnapshots();
      return { checkedOut: snapshot!.checkedOut, waiters: snapshot!.waiters };
    };
    try {
      const first = await pool.connect();
      const second = await pool.connect();
      expect(gauges()).toEqual({ checkedOut: 2, waiters: 0 });
      // The pool is full: a third checkout waits in its line, taking no permit.
      const third = pool.connect();
      while (gauges().waiters === 0) await new Promise((r) => setImmediate(r));
      expect(gauges()).toEqual({ checkedOut: 2, waiters: 1 });
      first.release();
      const handed = await third;
      expect(gauges()).toEqual({ checkedOut: 2, waiters: 0 });
      handed.release();
      second.release();
      expect(gauges()).toEqual({ checkedOut: 0, waiters: 0 });
    } finally {
      await pools.close();
    }
  }, 120_000);

  it('a checkout holding a permit gives up at the wait limit when every session is out, and gives the permit back', async () => {
    const pools = new DataPlanePools(catalog(), logger, {
      applicationName: 'ttm-gateway-dataplane',
      maxConnections: 2,
      maxTotalConnections: 2,
      acquireTimeoutMs: 500,
    });
    const busy = pools.poolFor(dedicated(names[3]!));
    try {
      const first = await busy.connect();
      const second = await busy.connect();
      // A third checkout of the full pool waits in its line; the session it is handed holds no permit.
      const third = busy.connect();
      first.release();
      const handed = await third;
      // A permit is free, yet both sessions are out: the other database's checkout takes the
      // permit, finds no room and no idle session, and gives up at the wait limit.
      const refused = await pools
        .poolFor(dedicated(names[4]!))
        .query('SELECT 1')
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConnectionBudgetExhausted);
      handed.release();
      second.release();
      expect(pools.budgetSnapshots()[0]).toMatchObject({ checkedOut: 0, waiters: 0 });
      const { rows } = await pools.poolFor(dedicated(names[4]!)).query<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await pools.close();
    }
  }, 120_000);

  it('a session pg-pool opens by itself for a checkout in its line counts on the budget', async () => {
    const applicationName = 'ttm-test-line-reopen';
    const pools = new DataPlanePools(catalog(), logger, {
      applicationName,
      maxConnections: 2,
      maxTotalConnections: 3,
      acquireTimeoutMs: 60_000,
    });
    const [x, y, z] = [5, 6, 7].map((i) => pools.poolFor(dedicated(names[i]!))) as [
      ReturnType<DataPlanePools['poolFor']>,
      ReturnType<DataPlanePools['poolFor']>,
      ReturnType<DataPlanePools['poolFor']>,
    ];
    const onServer = async () =>
      (
        await admin.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [applicationName],
        )
      ).rows[0]!.n;
    const out: pg.PoolClient[] = [];
    try {
      const x1 = await x.connect();
      out.push(await x.connect(), await y.connect());
      // x is full: a third checkout waits in its line; z's waits for a permit.
      const x3 = x.connect();
      const z1 = z.connect();
      while (pools.budgetSnapshots()[0]!.waiters < 2) await new Promise((r) => setImmediate(r));
      // A broken session is destroyed: pg-pool opens a new one for x's line at once. That one
      // counts, so z (handed the permit) finds no room until y gives its session back.
      x1.release(new Error('connection broken'));
      out.push(await x3);
      out.splice(1, 1)[0]!.release();
      out.push(await z1);
      expect(await onServer()).toBeLessThanOrEqual(3);
      expect(pools.budgetSnapshots()[0]!.held).toBeLessThanOrEqual(3);
    } finally {
      for (const client of out) client.release();
      await pools.close();
    }
  }, 120_000);

  it('refuses past the wait limit with a transient error naming the wait, and serves the queue in order', async () => {
    const pools = new DataPlanePools(catalog(), logger, {
      applicationName: 'ttm-gateway-dataplane',
      maxConnections: 2,
      maxTotalConnections: 1,
      acquireTimeoutMs: 300,
    });
    try {
      const held = await pools.poolFor(dedicated(names[0]!)).connect();
      const refused = await pools
        .poolFor(dedicated(names[1]!))
        .query('SELECT 1')
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConnectionBudgetExhausted);
      expect(refused).toMatchObject({ retryAfterSeconds: 1, budget: 1 });
      expect(isTransientDatabaseError(refused)).toBe(true);

      // Queued behind the held connection, served once it is released: nothing is lost.
      const patient = new DataPlanePools(catalog(), logger, {
        applicationName: 'ttm-gateway-dataplane',
        maxConnections: 2,
        maxTotalConnections: 1,
        acquireTimeoutMs: 60_000,
      });
      const holding = await patient.poolFor(dedicated(names[0]!)).connect();
      const queued = Array.from({ length: 5 }, (_, i) =>
        patient.poolFor(dedicated(names[i % 3]!)).query<{ n: number }>('SELECT $1::int AS n', [i]),
      );
      held.release();
      holding.release();
      expect((await Promise.all(queued)).map((r) => r.rows[0]!.n)).toEqual([0, 1, 2, 3, 4]);
      await patient.close();
    } finally {
      await pools.close();
    }
  }, 120_000);
});
