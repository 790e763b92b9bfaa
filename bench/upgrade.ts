/**
 * Fleet schema upgrade: `--tenants` workspaces (default 10,000) are generated at schema
 * version N-1 with the layout's own DDL in a PRIVATE PostgreSQL cluster (initdb + pg_ctl on a
 * random port, removed at the end), sharded `--per-database` (default 1,000) to a database:
 * the first database is generated, the others are copied from it as templates. Then the
 * metadata-only migration N-1 -> N runs over all of them with at most 4 workers for the cluster
 * (each tenant in one transaction, lock_timeout 2 s with retry), is rolled back, and runs again:
 * two upgrade figures from one fleet. Reports tenants/s, RSS growth first -> last tenant, the
 * longest lock hold, the drift check's duration over the fleet, and the p99 of a tenant that is
 * not upgraded, reading before and while the upgrade runs (alternating phases in one run).
 *
 * Not measured here: the tenant event append and the progress rows of the provisioner's
 * runner (one NATS publish and two control-plane updates per tenant).
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  bareWorkspaceSql,
  CORE_SCHEMA_SQL,
  changeWorkspaceVersion,
  checkDrift,
  WORKSPACE_SCHEMA_VERSION,
  workspaceSchemaName,
} from '@ttm/data-plane';
import pg from 'pg';
import { type PrivatePostgres, startPrivatePostgres } from './lib/privatePostgres.js';
import { BenchReport, quantile } from './lib/report.js';

const N = WORKSPACE_SCHEMA_VERSION;
setFlagsFromString('--expose-gc');
/** A full collection, so heap figures compare live memory rather than garbage not yet collected. */
const collect = runInNewContext('gc') as () => void;
const WORKERS = 4;

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN;
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** A throwaway PostgreSQL cluster for the generated fleet, removed at the end. */
function startPrivateCluster(): Promise<PrivatePostgres> {
  return startPrivatePostgres('ttm-bench-upgrade-', {
    max_connections: '60',
    shared_buffers: '256MB',
    max_locks_per_transaction: '256',
  });
}

async function generate(pool: pg.Pool, ids: string[]): Promise<void> {
  let next = 0;
  const batch = 25;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      const client = await pool.connect();
      try {
        while (next < ids.length) {
          const slice = ids.slice(next, next + batch);
          next += batch;
          await client.query('BEGIN');
          for (const id of slice) await client.query(bareWorkspaceSql(id, N - 1));
          await client.query('COMMIT');
        }
      } finally {
        client.release();
      }
    }),
  );
}

interface Pass {
  seconds: number;
  rate: number;
  maxLockMs: number;
  rssGrowthMb: number;
  /** Where the RSS growth sits: V8's heap (live and garbage not yet collected), and the rest. */
  heapTotalGrowthMb: number;
  externalGrowthMb: number;
  /** Live heap after a full GC, last tenant minus first: what a leak would grow. */
  heapGrowthMb: number;
  failed: number;
}

/** Move every tenant to `to`, WORKERS at a time for the whole cluster, database after database. */
async function upgradeFleet(pools: pg.Pool[], ids: string[], to: number): Promise<Pass> {
  const queue = pools.flatMap((pool) => ids.map((id) => ({ pool, id })));
  let next = 0;
  let maxLockMs = 0;
  let failed = 0;
  let firstRss = 0;
  let lastRss = 0;
  let firstHeap = 0;
  let first: NodeJS.MemoryUsage | undefined;
  let last: NodeJS.MemoryUsage | undefined;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      for (let item = queue[next++]; item; item = queue[next++]) {
        try {
          const changed = await changeWorkspaceVersion(item.pool, { workspaceId: item.id, to });
          maxLockMs = Math.max(maxLockMs, changed.lockHeldMs);
        } catch {
          failed++;
        }
        done++;
        if (done === 1) {
          collect();
          first = process.memoryUsage();
          firstRss = first.rss;
          firstHeap = first.heapUsed;
        }
        last = process.memoryUsage();
        lastRss = last.rss;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  collect();
  const heapGrowthMb = (process.memoryUsage().heapUsed - firstHeap) / 1024 ** 2;
  return {
    seconds,
    rate: queue.length / seconds,
    maxLockMs,
    rssGrowthMb: (lastRss - firstRss) / 1024 ** 2,
    heapTotalGrowthMb: ((last?.heapTotal ?? 0) - (first?.heapTotal ?? 0)) / 1024 ** 2,
    externalGrowthMb: ((last?.external ?? 0) - (first?.external ?? 0)) / 1024 ** 2,
    heapGrowthMb,
    failed,
  };
}

/** Latencies (ms) of a tenant's list page, read over its own connection until `stop` resolves. */
async function readLoop(url: string, schema: string, stop: Promise<unknown>): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const latencies: number[] = [];
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  try {
    while (!stopped) {
      const t = performance.now();
      await client.query(
        `SELECT id, name, "createdAt" FROM "${schema}".company WHERE "deletedAt" IS NULL ORDER BY "createdAt", id LIMIT 20`,
      );
      latencies.push(performance.now() - t);
    }
  } finally {
    await client.end();
  }
  return latencies;
}

export async function run(): Promise<void> {
  const report = new BenchReport('upgrade');
  const tenants = flag('tenants', 10_000);
  const perDatabase = Math.min(tenants, flag('per-database', 1_000));
  const databases = Math.ceil(tenants / perDatabase);
  report.describe({
    tenants: databases * perDatabase,
    databases,
    perDatabase,
    workersPerCluster: WORKERS,
    from: N - 1,
    to: N,
    loadavg: loadavg(),
  });
  const cluster = await startPrivateCluster();
  const pools: pg.Pool[] = [];
  try {
    const admin = new pg.Client({ connectionString: cluster.url('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE fleet_0');
    const first = new pg.Pool({ connectionString: cluster.url('fleet_0'), max: WORKERS });
    await first.query(CORE_SCHEMA_SQL);
    const ids = Array.from({ length: perDatabase }, () => randomUUID());
    let t = performance.now();
    await generate(first, ids);
    // A tenant outside the upgrade, with rows to read, in the first database.
    const reader = randomUUID();
    await generate(first, [reader]);
    await first.query(
      `INSERT INTO "${workspaceSchemaName(reader)}".company (name) SELECT 'Company ' || n FROM generate_series(1, 1000) n`,
    );
    await first.end();
    for (let d = 1; d < databases; d++) await admin.query(`CREATE DATABASE fleet_${d} TEMPLATE fleet_0`);
    await admin.end();
    console.log(
      `bench upgrade: generated ${databases * perDatabase} workspaces in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    for (let d = 0; d < databases; d++) {
      pools.push(new pg.Pool({ connectionString: cluster.url(`fleet_${d}`), max: WORKERS, idleTimeoutMillis: 1000 }));
    }

    const passes: Pass[] = [];
    const before: number[][] = [];
    const during: number[][] = [];
    for (const to of [N, N - 1, N]) {
      // The same reader before (5 s idle fleet) and while the pass runs.
      const idle = new Promise((r) => setTimeout(r, 5000));
      before.push(await readLoop(cluster.url('fleet_0'), workspaceSchemaName(reader), idle));
      let finish: () => void = () => undefined;
      const ended = new Promise<void>((r) => {
        finish = r;
      });
      const reading = readLoop(cluster.url('fleet_0'), workspaceSchemaName(reader), ended);
      const pass = await upgradeFleet(pools, ids, to);
      finish();
      during.push(await reading);
      console.log(
        `bench upgrade: pass to version ${to}: ${JSON.stringify(pass)} loadavg ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}`,
      );
      passes.push(pass);
    }
    t = performance.now();
    let drifted = 0;
    let checked = 0;
    for (const pool of pools) {
      const client = await pool.connect();
      try {
        const result = await checkDrift(client);
        drifted += result.drifted.length;
        checked += result.checked;
      } finally {
        client.release();
      }
    }
    const driftSeconds = (performance.now() - t) / 1000;

    const ups = [passes[0]!, passes[2]!];
    report.figure('upgrade rate (pass 1)', ups[0]!.rate, 'tenants/s', '>= 11');
    report.figure('upgrade rate (pass 2)', ups[1]!.rate, 'tenants/s', '>= 11');
    report.figure('rollback rate', passes[1]!.rate, 'tenants/s');
    report.figure('fleet upgrade duration (pass 1)', ups[0]!.seconds, 's', `<= 900 for 10,000`);
    report.figure(
      'failed tenants',
      passes.reduce((a, p) => a + p.failed, 0),
      'tenants',
      '0',
    );
    report.figure('max lock hold', Math.max(...passes.map((p) => p.maxLockMs)), 'ms', '<= 2000');
    report.figure(
      'RSS growth first to last tenant (max of passes)',
      Math.max(...passes.map((p) => p.rssGrowthMb)),
      'MB',
      '<= 50',
    );
    report.figure(
      'V8 heap size growth first to last tenant (pass with the largest RSS growth)',
      passes.reduce((a, p) => (p.rssGrowthMb > a.rssGrowthMb ? p : a)).heapTotalGrowthMb,
      'MB',
    );
    report.figure(
      'external memory growth first to last tenant (pass with the largest RSS growth)',
      passes.reduce((a, p) => (p.rssGrowthMb > a.rssGrowthMb ? p : a)).externalGrowthMb,
      'MB',
    );
    report.figure(
      'live heap growth after GC first to last tenant (max of passes)',
      Math.max(...passes.map((p) => p.heapGrowthMb)),
      'MB',
      '<= 50',
    );
    report.figure('drift check duration', driftSeconds, 's', '<= 120 for 10,000');
    report.figure('drift check tenants checked', checked, 'tenants');
    report.figure('drifted tenants', drifted, 'tenants', '0');
    for (let i = 0; i < passes.length; i++) {
      const p99Before = quantile(before[i]!, 0.99);
      const p99During = quantile(during[i]!, 0.99);
      report.figure(`reader p99 before pass ${i + 1}`, p99Before, 'ms');
      report.figure(`reader p99 during pass ${i + 1}`, p99During, 'ms');
      report.figure(`reader p99 ratio during/before pass ${i + 1}`, p99During / p99Before, 'x', '<= 1.10');
    }
    report.describe({ loadavgAtEnd: loadavg() });
    await report.save();
  } finally {
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    cluster.stop();
  }
}
