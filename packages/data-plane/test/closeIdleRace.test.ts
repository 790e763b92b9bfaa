import { createLogger } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlanePools } from '../src/index.js';
import {
  dedicatedDatabase,
  oneClusterCatalog,
  type PrivateCluster,
  startPrivateCluster,
} from './support/privateCluster.js';

const logger = createLogger('test', 'silent');
let cluster: PrivateCluster;

beforeAll(async () => {
  cluster = await startPrivateCluster({ max_connections: 20 });
  const admin = new pg.Client({ connectionString: cluster.url() });
  await admin.connect();
  for (const name of ['shared', 'tenant_a', 'tenant_e', 'tenant_b']) await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
}, 120_000);

const catalog = () => oneClusterCatalog(cluster);
const dedicated = dedicatedDatabase;

describe('making room at the limit', () => {
  it('an idle connection closed to make room is never also handed to a checkout of its own database', async () => {
    // At the limit, a checkout for another database makes room by checking an idle connection out
    // of its pool to close it. A checkout of that same database in the same moment had counted the
    // same idle connection as its own: pg-pool handed it to the first and opened a new session for
    // the second, outside the budget (the provisioner held 12 sessions on a limit of 10 in
    // `npm run bench -- enterprise-burst`).
    const limit = 2;
    const pools = new DataPlanePools(catalog(), logger, {
      applicationName: 'ttm-provisioner',
      maxConnections: 4,
      maxTotalConnections: limit,
      acquireTimeoutMs: 60_000,
    });
    // Sessions open at once, from pg-pool's own events (`remove` comes once the socket is closed).
    let open = 0;
    let most = 0;
    const watched = new WeakSet<object>();
    const watch = () => {
      for (const [, pool] of pools.openPools()) {
        if (watched.has(pool)) continue;
        watched.add(pool);
        pool.on('connect', () => {
          most = Math.max(most, ++open);
        });
        pool.on('remove', () => {
          open--;
        });
      }
    };
    try {
      const a = pools.poolFor(dedicated('tenant_a'));
      const e = pools.poolFor(dedicated('tenant_e'));
      const b = pools.poolFor(dedicated('tenant_b'));
      watch();
      // One idle connection on A and one on E: the limit is reached, nothing checked out. A is the
      // least recently used, so it is the one closed to make room for B.
      await a.query('SELECT 1');
      await e.query('SELECT 1');
      expect(open).toBe(limit);
      await Promise.all([b.query('SELECT 1'), a.query('SELECT 1')]);
      watch();
      expect(most).toBeLessThanOrEqual(limit);
    } finally {
      await pools.close();
    }
  }, 60_000);
});
