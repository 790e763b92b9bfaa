/**
 * Fleet schema upgrade: `--tenants` workspaces (default 10,000) are generated at schema
 * version N-1 with the layout's own DDL in a PRIVATE PostgreSQL cluster (initdb + pg_ctl on a
 * random port, removed at the end), sharded `--per-database` (default 1,000) to a database:
 * the first database is generated, the others are copied from it as templates. Then the
 * metadata-only migration N-1 -> N runs over all of them with at most `--workers` (4) for the
 * cluster (each tenant in one transaction, lock_timeout 2 s with retry), at most `--paces`
 * tenants started per second (default the provisioner's default pace; a list runs one pass
 * per pace, alternately to N and back to N-1; 0 is no cap).
 *
 * Per pass: tenants/s of running time, the longest lock hold, memory growth after a warm-up
 * (the first 5 % of tenants, at least 100: pools and connections open, code is compiled, the
 * heap finds its size) to the last tenant, and the p99 of a tenant that is not upgraded. The
 * upgrade runs `--on` seconds (10) and pauses `--off` seconds (3), over and over, while that
 * tenant reads at a fixed rate (`--reads`, 50/s, open loop): p99 while running over p99 while
 * paused compares the same load in the same minutes (the machine is shared, so a "before"
 * phase minutes earlier is another load). Then the drift check's duration over the fleet.
 *
 * Not measured here: the tenant event append and the progress rows of the provisioner's
 * runner (one NATS publish and two control-plane updates per tenant).
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import v8, { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  bareWorkspaceSql,
  CORE_SCHEMA_SQL,
  changeWorkspaceVersion,
  checkDrift,
  DEFAULT_UPGRADE_TENANTS_PER_SECOND,
  UpgradePace,
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
  to: number;
  /** Tenants started per second on the cluster (0: no cap). */
  pace: number;
  /** Wall time of the pass, including the bench's pauses (the "off" windows). */
  seconds: number;
  /** Time the upgrade was allowed to run (the "on" windows). */
  runningSeconds: number;
  /** Tenants per second of running time. */
  rate: number;
  maxLockMs: number;
  /** Tenants counted as the warm-up (the memory baseline is taken after them). */
  warmup: number;
  /** RSS from the first tenant to the end of the warm-up: pools and connections opening, JIT, heap sizing. */
  rssWarmupMb: number;
  /** RSS at the last tenant minus RSS at the end of the warm-up (no forced GC at either end). */
  rssGrowthMb: number;
  /** Highest RSS after the warm-up minus RSS at the end of the warm-up. */
  rssPeakGrowthMb: number;
  /** V8 heap size (live and garbage) at the last tenant minus at the end of the warm-up. */
  heapTotalGrowthMb: number;
  externalGrowthMb: number;
  /** Live heap after a full GC, at the last tenant minus at the end of the warm-up: what a leak would grow. */
  heapGrowthMb: number;
  failed: number;
  /** RSS (MB) at 5, 25, 50, 75 and 100 % of the tenants: a leak grows in every quarter, heap sizing early. */
  rssAtMb: number[];
  /** V8 space sizes (MB) at the end of the warm-up and at the last tenant: where the growth sits. */
  spacesMb: Record<string, [number, number]>;
  /** The bystander's latencies (ms) while the upgrade ran and while it was paused. */
  on: number[];
  off: number[];
  /** p99 ratio on/off of the first and second half of the pass (the spread within one pass). */
  halves: number[];
}

const MB = 1024 ** 2;

/**
 * Move every tenant to `to`, `workers` at a time for the whole cluster, database after
 * database, at most `pace` tenants started per second. The upgrade runs `onSeconds`, pauses
 * `offSeconds` (no tenant starts; the ones in flight finish), and so on, while a bystander
 * tenant reads at a fixed rate: its p99 in the paused windows is the "before" of the same
 * load, measured in the same minutes as the "during".
 */
async function upgradeFleet(
  pools: pg.Pool[],
  ids: string[],
  options: { to: number; pace: number; workers: number; onSeconds: number; offSeconds: number; bystander: Bystander },
): Promise<Omit<Pass, 'on' | 'off' | 'halves'> & { windows: { on: boolean; from: number; to: number }[] }> {
  const { to, workers, onSeconds, offSeconds } = options;
  const total = pools.length * ids.length;
  const warmup = Math.min(total - 1, Math.max(100, Math.ceil(total * 0.05)));
  const pace = new UpgradePace(options.pace);
  let next = 0;
  let maxLockMs = 0;
  let failed = 0;
  let done = 0;
  let base: NodeJS.MemoryUsage | undefined;
  let baseHeap = 0;
  let peakRss = 0;
  let firstRss = 0;
  const marks = [0.05, 0.25, 0.5, 0.75].map((f) => Math.max(1, Math.floor(total * f)));
  const rssAt: number[] = [];
  let spacesBase: v8.HeapSpaceInfo[] = [];
  // Phases: the upgrade runs while `running`; workers wait on `resumed` while it is paused.
  let running = true;
  let resumed: Promise<void> = Promise.resolve();
  let resume: () => void = () => undefined;
  const windows: { on: boolean; from: number; to: number }[] = [];
  let windowStart = performance.now();
  let runningMs = 0;
  let finished = false;
  const switcher = (async () => {
    while (!finished) {
      await sleep((running ? onSeconds : offSeconds) * 1000);
      if (finished) break;
      const now = performance.now();
      windows.push({ on: running, from: windowStart, to: now });
      if (running) runningMs += now - windowStart;
      windowStart = now;
      running = !running;
      options.bystander.phase(running);
      if (running) resume();
      else
        resumed = new Promise<void>((r) => {
          resume = r;
        });
    }
  })();
  options.bystander.phase(true);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) {
        while (!running) await resumed;
        await pace.wait();
        while (!running) await resumed;
        const index = next++;
        if (index >= total) return;
        const pool = pools[Math.floor(index / ids.length)]!;
        const id = ids[index % ids.length]!;
        try {
          const changed = await changeWorkspaceVersion(pool, { workspaceId: id, to });
          maxLockMs = Math.max(maxLockMs, changed.lockHeldMs);
        } catch {
          failed++;
        }
        done++;
        const rss = process.memoryUsage.rss();
        if (done === 1) firstRss = rss;
        if (marks.includes(done)) rssAt.push(rss / MB);
        if (done === warmup) {
          // The baseline as it is (no forced collection, like the last tenant's figure), then
          // the live heap after a full collection for the leak figure.
          base = process.memoryUsage();
          spacesBase = v8.getHeapSpaceStatistics();
          peakRss = base.rss;
          collect();
          baseHeap = process.memoryUsage().heapUsed;
        }
        if (done > warmup) peakRss = Math.max(peakRss, rss);
      }
    }),
  );
  const ended = performance.now();
  finished = true;
  windows.push({ on: running, from: windowStart, to: ended });
  if (running) runningMs += ended - windowStart;
  resume();
  const last = process.memoryUsage();
  rssAt.push(last.rss / MB);
  const spacesMb: Record<string, [number, number]> = {};
  for (const space of v8.getHeapSpaceStatistics()) {
    const before = spacesBase.find((b) => b.space_name === space.space_name)?.space_size ?? 0;
    spacesMb[space.space_name] = [before / MB, space.space_size / MB];
  }
  collect();
  const heapGrowthMb = (process.memoryUsage().heapUsed - baseHeap) / MB;
  void switcher;
  return {
    to,
    pace: options.pace,
    seconds: (ended - started) / 1000,
    runningSeconds: runningMs / 1000,
    rate: total / (runningMs / 1000),
    maxLockMs,
    warmup,
    rssWarmupMb: ((base?.rss ?? 0) - firstRss) / MB,
    rssGrowthMb: (last.rss - (base?.rss ?? 0)) / MB,
    rssPeakGrowthMb: (peakRss - (base?.rss ?? 0)) / MB,
    heapTotalGrowthMb: (last.heapTotal - (base?.heapTotal ?? 0)) / MB,
    externalGrowthMb: (last.external - (base?.external ?? 0)) / MB,
    heapGrowthMb,
    failed,
    rssAtMb: rssAt,
    spacesMb,
    windows,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A tenant outside the upgrade reading its list page at a fixed rate over its own connection
 * (open loop: a late query's latency counts from when it was due, so a stall is not hidden by
 * fewer samples). Each sample is tagged with the phase (upgrade running or paused) it was due
 * in; samples due in the first `settleMs` after a switch are left out (tenants in flight finish).
 */
class Bystander {
  private client: pg.Client;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private running = false;
  private switchedAt = 0;
  readonly on: number[] = [];
  readonly off: number[] = [];
  /** When each sample was due (ms, performance.now()), with its phase. */
  readonly dueOn: number[] = [];
  readonly dueOff: number[] = [];

  constructor(
    url: string,
    private readonly schema: string,
    private readonly perSecond: number,
    private readonly settleMs = 250,
  ) {
    this.client = new pg.Client({ connectionString: url });
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.loop = this.read();
  }

  phase(running: boolean): void {
    this.running = running;
    this.switchedAt = performance.now();
  }

  /** Forget the samples so far (the next pass starts with none). */
  reset(): void {
    for (const list of [this.on, this.off, this.dueOn, this.dueOff]) list.length = 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.client.end();
  }

  private async read(): Promise<void> {
    const gap = 1000 / this.perSecond;
    let due = performance.now();
    while (!this.stopped) {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const running = this.running;
      const settled = due - this.switchedAt >= this.settleMs;
      await this.client.query(
        `SELECT id, name, "createdAt" FROM "${this.schema}".company WHERE "deletedAt" IS NULL ORDER BY "createdAt", id LIMIT 20`,
      );
      const latency = performance.now() - due;
      if (settled) {
        (running ? this.on : this.off).push(latency);
        (running ? this.dueOn : this.dueOff).push(due);
      }
      due += gap;
    }
  }
}

/** p99 on / p99 off. */
function ratio(on: number[], off: number[]): number {
  return quantile(on, 0.99) / quantile(off, 0.99);
}

function list(name: string, fallback: number[]): number[] {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const values = String(process.argv[index + 1])
    .split(',')
    .map(Number);
  return values.every((v) => Number.isFinite(v) && v >= 0) ? values : fallback;
}

export async function run(): Promise<void> {
  const report = new BenchReport('upgrade');
  const tenants = flag('tenants', 10_000);
  const perDatabase = Math.min(tenants, flag('per-database', 1_000));
  const databases = Math.ceil(tenants / perDatabase);
  const workers = Math.min(4, flag('workers', 4));
  // One pass per pace, alternately to N and back to N-1: `--paces 0,50,25` compares paces on one fleet.
  const paces = list('paces', [DEFAULT_UPGRADE_TENANTS_PER_SECOND]);
  const onSeconds = flag('on', 10);
  const offSeconds = flag('off', 3);
  const readsPerSecond = flag('reads', 50);
  report.describe({
    tenants: databases * perDatabase,
    databases,
    perDatabase,
    workersPerCluster: workers,
    paces,
    windows: { onSeconds, offSeconds },
    bystanderReadsPerSecond: readsPerSecond,
    from: N - 1,
    to: N,
    loadavg: loadavg(),
  });
  const cluster = await startPrivateCluster();
  const pools: pg.Pool[] = [];
  let bystander: Bystander | undefined;
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
    await first.query('VACUUM ANALYZE');
    await first.end();
    for (let d = 1; d < databases; d++) await admin.query(`CREATE DATABASE fleet_${d} TEMPLATE fleet_0`);
    await admin.end();
    console.log(
      `bench upgrade: generated ${databases * perDatabase} workspaces in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    for (let d = 0; d < databases; d++) {
      pools.push(new pg.Pool({ connectionString: cluster.url(`fleet_${d}`), max: workers, idleTimeoutMillis: 1000 }));
    }
    // The bystander's database is the one the upgrade reaches first (the worst case: it shares
    // the catalog the DDL changes); later databases share only the server.
    bystander = new Bystander(cluster.url('fleet_0'), workspaceSchemaName(reader), readsPerSecond);
    await bystander.start();

    const passes: Pass[] = [];
    for (let i = 0; i < paces.length; i++) {
      const to = i % 2 === 0 ? N : N - 1;
      bystander.reset();
      const pass = await upgradeFleet(pools, ids, { to, pace: paces[i]!, workers, onSeconds, offSeconds, bystander });
      const on = [...bystander.on];
      const off = [...bystander.off];
      const middle = (pass.windows[0]!.from + pass.windows.at(-1)!.to) / 2;
      const half = (which: 0 | 1) => {
        const pick = (values: number[], due: number[]) =>
          values.filter((_, k) => (which === 0 ? due[k]! < middle : due[k]! >= middle));
        return ratio(pick(on, bystander!.dueOn), pick(off, bystander!.dueOff));
      };
      const { windows: _windows, ...figures } = pass;
      passes.push({ ...figures, on, off, halves: [half(0), half(1)] });
      console.log(
        `bench upgrade: pass ${i + 1} to version ${to} at ${pass.pace || 'no cap'} tenants/s: ${JSON.stringify(figures)}` +
          ` bystander p99 on ${quantile(on, 0.99).toFixed(2)} ms (${on.length} reads), off ${quantile(off, 0.99).toFixed(2)} ms (${off.length}),` +
          ` ratio ${ratio(on, off).toFixed(3)} (halves ${passes
            .at(-1)!
            .halves.map((h) => h.toFixed(3))
            .join(', ')})` +
          ` loadavg ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' ')}`,
      );
    }
    await bystander.stop();
    bystander = undefined;
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

    passes.forEach((p, i) => {
      const name = `pass ${i + 1} (to ${p.to}, ${p.pace || 'no cap'} tenants/s)`;
      report.figure(`upgrade rate ${name}`, p.rate, 'tenants/s', i === 0 ? '>= 11' : undefined);
      report.figure(
        `duration of running time ${name}`,
        p.runningSeconds,
        's',
        i === 0 ? '<= 900 for 10,000' : undefined,
      );
      report.figure(`wall time with the bench's pauses ${name}`, p.seconds, 's');
      report.figure(
        `RSS growth after the warm-up of ${p.warmup} tenants to the last ${name}`,
        p.rssGrowthMb,
        'MB',
        '<= 50',
      );
      report.figure(`RSS peak growth after the warm-up ${name}`, p.rssPeakGrowthMb, 'MB', '<= 50');
      report.figure(`RSS growth during the warm-up ${name}`, p.rssWarmupMb, 'MB');
      report.figure(`V8 heap size growth after the warm-up ${name}`, p.heapTotalGrowthMb, 'MB');
      report.figure(`external memory growth after the warm-up ${name}`, p.externalGrowthMb, 'MB');
      report.figure(`live heap growth after GC, warm-up to last ${name}`, p.heapGrowthMb, 'MB');
      const quarters = p.rssAtMb.slice(1).map((rss, k) => rss - p.rssAtMb[k]!);
      for (const [k, growth] of quarters.entries()) {
        report.figure(`RSS growth in quarter ${k + 1} of the tenants (from 5 % in the first) ${name}`, growth, 'MB');
      }
      report.figure(`bystander p99 paused ${name}`, quantile(p.off, 0.99), 'ms');
      report.figure(`bystander p99 running ${name}`, quantile(p.on, 0.99), 'ms');
      report.figure(`bystander reads paused / running ${name}`, p.off.length, `/ ${p.on.length}`);
      report.figure(`bystander p99 ratio running/paused ${name}`, ratio(p.on, p.off), 'x', '<= 1.10');
      report.figure(`bystander p99 ratio first half ${name}`, p.halves[0]!, 'x');
      report.figure(`bystander p99 ratio second half ${name}`, p.halves[1]!, 'x');
      report.figure(`bystander p50 ratio running/paused ${name}`, quantile(p.on, 0.5) / quantile(p.off, 0.5), 'x');
    });
    report.figure(
      'failed tenants',
      passes.reduce((a, p) => a + p.failed, 0),
      'tenants',
      '0',
    );
    report.figure('max lock hold', Math.max(...passes.map((p) => p.maxLockMs)), 'ms', '<= 2000');
    report.figure('drift check duration', driftSeconds, 's', '<= 120 for 10,000');
    report.figure('drift check tenants checked', checked, 'tenants');
    report.figure('drifted tenants', drifted, 'tenants', '0');
    report.describe({ loadavgAtEnd: loadavg() });
    await report.save();
  } finally {
    await bystander?.stop().catch(() => undefined);
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    cluster.stop();
  }
}
