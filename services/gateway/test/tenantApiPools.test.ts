import type { Catalog } from '@ttm/service-kit';
import { createLogger } from '@ttm/service-kit';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_PLANE_APPLICATION_NAME, DataPlanePools } from '../src/features/dataPlane/index.js';

let databases: TestDatabase[] = [];
let admin: pg.Client;

beforeAll(async () => {
  databases = await Promise.all([createTestDatabase('ttm_pools'), createTestDatabase('ttm_pools')]);
  admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await Promise.all(databases.map((d) => d.drop()));
});

/** One cluster whose URL is the test server: each placement names one of the test databases. */
const catalog = {
  region: () => ({ clusters: [{ name: 'c1', url: TEST_POSTGRES_URL }] }),
} as unknown as Catalog;
const placement = (database: string) => ({
  region: 'r1',
  cluster: 'c1',
  kind: 'database' as const,
  database,
  schema: 'workspace_x',
});

/** Connections our pools hold on the two test databases, as PostgreSQL sees them. */
async function serverCount(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = ANY($2)',
    [DATA_PLANE_APPLICATION_NAME, databases.map((d) => d.name)],
  );
  return rows[0]!.n;
}

describe('data-plane pools', () => {
  it('keeps every database together under the total bound, closing idle connections of one for another', async () => {
    const pools = new DataPlanePools(catalog, createLogger('test', 'silent'), {
      applicationName: DATA_PLANE_APPLICATION_NAME,
      maxConnections: 3,
      maxTotalConnections: 4,
    });
    try {
      const [one, two] = databases.map((d) => pools.poolFor(placement(d.name))) as [
        ReturnType<DataPlanePools['poolFor']>,
        ReturnType<DataPlanePools['poolFor']>,
      ];
      let max = 0;
      const sample = setInterval(() => {
        max = Math.max(max, pools.openConnections);
      }, 5);
      const sleepers = (pool: typeof one, n: number) =>
        Array.from({ length: n }, () => pool.query('SELECT pg_sleep(0.05)'));
      // Both databases busy at once: 4 connections at most, every query served.
      await Promise.all([...sleepers(one, 12), ...sleepers(two, 12)]);
      expect(max).toBeLessThanOrEqual(4);
      expect(await serverCount()).toBeLessThanOrEqual(4);

      // One database busy on its own takes connections idle in the other (at most its own 3).
      // A dedicated database's pool left with no connection is forgotten: it counts 0.
      const opened = (i: number) =>
        [...pools.openPools()].find(([key]) => key.endsWith(`/${databases[i]!.name}`))?.[1].totalCount ?? 0;
      await Promise.all(sleepers(one, 6));
      expect(opened(0)).toBe(3);
      await Promise.all(sleepers(two, 6));
      expect(opened(1)).toBe(3);
      expect(opened(0)).toBeLessThanOrEqual(1);
      clearInterval(sample);
      expect(max).toBeLessThanOrEqual(4);
      expect(pools.openConnections).toBeLessThanOrEqual(4);
      expect(await serverCount()).toBeLessThanOrEqual(4);

      // Transactions check out and give back a permit; a statement error keeps the connection usable.
      const client = await two.connect();
      await client.query('BEGIN');
      await client.query('SELECT 1');
      await client.query('COMMIT');
      client.release();
      await expect(one.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => one.query<{ n: number }>('SELECT $1::int AS n', [i])),
      );
      expect(results.map((r) => r.rows[0]!.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    } finally {
      await pools.close();
    }
  });
});
