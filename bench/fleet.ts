/**
 * The fleet: BENCH_TENANTS organizations (default 10,000) registered through the real HTTP path
 * (register → provisioner saga → active) onto four PRIVATE PostgreSQL clusters, two per region
 * (initdb + pg_ctl on random ports under the temporary directory, removed at the end), with every
 * service running as a process as `npm start` runs it. Plan mix 80 % pro, 15 % free, 5 %
 * enterprise (a dedicated database each). One run reports:
 *
 * - registration throughput and p95 (POST to `tenant.provisioned`), and failures;
 * - gateway RSS, each cluster's catalog (pg_class rows, databases, size on disk);
 * - the tenant API mix of `bench/tenant-api.ts` (`lib/tenantApiMix.ts`) with every tenant in
 *   flight, then BENCH_IN_FLIGHT (200);
 * - the most PostgreSQL connections all services held together (pg_stat_activity on every cluster
 *   and on the control-plane database, sampled every 250 ms);
 * - admin list p95;
 * - one tenant's backup time with 10 tenants registered and with all of them (same tenant, same rows);
 * - full replay time of each service's projections (`scripts/replay.ts`, the service stopped);
 * - seconds for a restarted gateway to be ready.
 *
 * BENCH_ARCHIVE_HALF=1 adds a phase right after registration: every other active tenant archived
 * through `POST /api/admin/tenants/{id}/archive` (the archive the idle sweep asks for), each
 * cluster's catalog (pg_class rows, catalog MB, disk) and PostgreSQL connections before and after,
 * and the time to bring two archived tenants back by signing in (202 with the restore → active).
 * With BENCH_REGISTRATION_ONLY=1 the run stops after it.
 *
 * BENCH_REGISTER_UNTIL (an ISO time) stops registering at that time and measures the rest with the
 * tenants registered by then (the report says where it stopped and the disk and memory left).
 * The backup scheduler is off (BACKUP_SCHEDULE_EVERY=0): scheduled backups of every tenant would
 * otherwise run during every phase.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, freemem, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { CloudEventHeaders, decodeData, ProvisioningFailed, SubjectFilters, TenantProvisioned } from '@ttm/contracts';
import pg from 'pg';
import { connectionSampler } from './lib/connectionSampler.js';
import { type DeploymentCpu, deploymentCpu } from './lib/deploymentCpu.js';
import { gatewayClient } from './lib/gatewayClient.js';
import { sleep } from './lib/polling.js';
import { type PrivatePostgres, startPrivatePostgres } from './lib/privatePostgres.js';
import { BENCH_ADMIN_KEY, type ProcessStack, startProcessStack } from './lib/processStack.js';
import { BenchReport, median, quantile } from './lib/report.js';
import { load, mintKeys, mixKind, type Tenant } from './tenant-api.js';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 10_000);
const REGISTER_IN_FLIGHT = Number(process.env.BENCH_REGISTER_IN_FLIGHT ?? 50);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
/** BENCH_REGISTRATION_ONLY=1: stop after the registration figures (profiling runs). */
const REGISTRATION_ONLY = process.env.BENCH_REGISTRATION_ONLY === '1';
/** BENCH_ARCHIVE_HALF=1: archive every other tenant after registration (catalog and connections before/after, restore time). */
const ARCHIVE_HALF = process.env.BENCH_ARCHIVE_HALF === '1';
const ARCHIVE_IN_FLIGHT = 10;
const REGISTER_UNTIL = process.env.BENCH_REGISTER_UNTIL ? Date.parse(process.env.BENCH_REGISTER_UNTIL) : Infinity;
const BACKUP_ROWS = 2_000;
const SERVICES = ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks'];
/** Services that keep projections (`npm run replay -- <service>`). */
const REPLAYED = ['gateway', 'backup'];
const CLUSTER_SETTINGS = {
  max_connections: '200',
  shared_buffers: '128MB',
  max_locks_per_transaction: '128',
  // Where each cluster's time goes during registration (printed after it).
  shared_preload_libraries: 'pg_stat_statements',
};
const root = fileURLToPath(new URL('../', import.meta.url));

interface Placement {
  region: string;
  cluster: string;
  kind: string;
  database: string;
  schema: string;
}

interface Cluster {
  name: string;
  region: string;
  server: PrivatePostgres;
  /** The cluster's database for schema tenants (dedicated databases sit beside it). */
  database: string;
}

export async function run(): Promise<void> {
  const report = new BenchReport('fleet');
  const clusters: Cluster[] = [];
  let stack: ProcessStack | undefined;
  const clients: pg.Client[] = [];
  try {
    for (const [region, prefix] of [
      ['us-east-1', 'use1'],
      ['eu-west-1', 'euw1'],
    ] as const) {
      for (const letter of ['a', 'b']) {
        const server = await startPrivatePostgres(`ttm-bench-fleet-${prefix}-${letter}-`, CLUSTER_SETTINGS);
        // A database name of its own on each server: the provisioner remembers which databases it
        // prepared by name alone, so one name on two servers leaves the second without its core schema.
        const database = `ttm_fleet_${prefix}_${letter}`;
        clusters.push({ name: `${prefix}-${letter}`, region, server, database });
        const admin = new pg.Client({ connectionString: server.url('postgres') });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${database}`);
        await admin.end();
        const schemaDb = new pg.Client({ connectionString: server.url(database) });
        await schemaDb.connect();
        await schemaDb.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        await schemaDb.end();
      }
    }
    const regions = ['us-east-1', 'eu-west-1'].map((name) => ({
      name,
      clusters: clusters
        .filter((c) => c.region === name)
        .map((c) => ({ name: c.name, url: c.server.url(c.database), capacity: 100_000 })),
    }));
    stack = await startProcessStack(SERVICES, {
      REGIONS: JSON.stringify(regions),
      BACKUP_SCHEDULE_EVERY: '0',
      LOG_LEVEL: 'warn',
    });
    report.describe({
      tenants: TENANTS,
      plan_mix: '80 % pro, 15 % free, 5 % enterprise (dedicated database)',
      clusters: clusters.map((c) => `${c.region}/${c.name} :${c.server.port}`),
      cluster_settings: CLUSTER_SETTINGS,
      register_in_flight: REGISTER_IN_FLIGHT,
      api_mix: 'as bench/tenant-api.ts: list 45 %, get 15 %, create 15 %, patch 15 %, me (no database) 10 %',
      api_phases: `every tenant in flight for ${Math.max(5, Math.round(SECONDS / 2))} s, then ${IN_FLIGHT} in flight for ${SECONDS} s`,
      services: `${SERVICES.join(', ')} as processes; backup scheduler off`,
      loadavg_at_start: loadavg().map((l) => l.toFixed(1)),
    });
    const control = new pg.Client({ connectionString: stack.db.url });
    await control.connect();
    clients.push(control);
    const clusterClients = new Map<string, pg.Client>();
    for (const c of clusters) {
      const client = new pg.Client({ connectionString: c.server.url(c.database) });
      await client.connect();
      clients.push(client);
      clusterClients.set(c.name, client);
    }
    const { api, json } = gatewayClient(stack.gatewayUrl, BENCH_ADMIN_KEY);
    const cpu = deploymentCpu(
      stack,
      clusters.map((c) => ({ name: c.name, dataDir: `${c.server.dir}/data` })),
      control,
    );
    const registrar = await registrations(stack, cpu);

    // 1. Ten tenants, then one tenant's backup with those ten (the first is a pro tenant with rows).
    await registrar.register(0, Math.min(10, TENANTS));
    const probe = registrar.active[0]!;
    const probePlacement = registrar.placements.get(probe)!;
    await clusterClients.get(probePlacement.cluster)!.query(
      `INSERT INTO ${pg.escapeIdentifier(probePlacement.schema)}.company (name, employees, position)
       SELECT 'Company ' || n, n % 5000, n FROM generate_series(1, $1) n`,
      [BACKUP_ROWS],
    );
    const backupAtTen = [await backupSeconds(api, json, probe), await backupSeconds(api, json, probe)];

    // 2. The fleet.
    for (const client of clusterClients.values()) await client.query('SELECT pg_stat_statements_reset()');
    const cpuBefore = await cpu.snapshot();
    const started = performance.now();
    const stopped = await registrar.register(Math.min(10, TENANTS), TENANTS);
    const registerSeconds = (performance.now() - started) / 1000;
    const fleetSize = registrar.active.length;
    const registered = Math.max(1, fleetSize + registrar.failed.length - Math.min(10, TENANTS));
    let cpuTotal = 0;
    for (const [process, seconds] of cpu.diff(cpuBefore, await cpu.snapshot())) {
      report.figure(`registration CPU per tenant: ${process}`, (seconds * 1000) / registered, 'ms');
      cpuTotal += seconds;
    }
    report.figure('registration CPU per tenant: all processes', (cpuTotal * 1000) / registered, 'ms');
    // What the machine's cores could register if this deployment had them to itself.
    report.figure(
      `registration ceiling on ${availableParallelism()} cores at that CPU`,
      (availableParallelism() * registered) / cpuTotal,
      'tenants/s',
      '≥ 30',
    );
    for (const [name, client] of clusterClients) {
      // The workspace DDL as one line, then the other statements by time: what else each tenant costs.
      const { rows } = await client.query<{ query: string; calls: string; total: number; mean: number }>(
        `SELECT CASE WHEN query ~* '^\\s*(CREATE|ALTER|SET|DROP)' THEN 'DDL and SET (workspace schemas, databases)'
                     ELSE left(regexp_replace(query, '\\s+', ' ', 'g'), 100) END AS query,
                sum(calls)::text AS calls, round(sum(total_exec_time))::int AS total,
                round((sum(total_exec_time) / greatest(sum(calls), 1))::numeric, 2)::float AS mean
           FROM pg_stat_statements GROUP BY 1 ORDER BY 3 DESC LIMIT 10`,
      );
      const sessions = await client.query<{ n: number }>('SELECT sum(sessions)::int AS n FROM pg_stat_database');
      console.log(
        `  ${name}: ${sessions.rows[0]?.n} sessions in all; statements during registration (ms total, calls, ms mean)`,
      );
      for (const r of rows) console.log(`    ${r.total}  ${r.calls}×  ${r.mean}  ${r.query}`);
    }
    if (stopped) {
      report.describe({
        registration_stopped: stopped,
        disk_free_gib: diskFreeGib(),
        memory_free_gib: Number((freemem() / 1024 ** 3).toFixed(1)),
      });
    }
    report.figure('registration: tenants active', fleetSize, 'tenants', `${TENANTS}`);
    report.figure('registration: failed', registrar.failed.length, 'tenants', '0');
    report.figure('registration: 503 answers retried', registrar.retried, 'requests');
    report.figure(
      'registration: throughput',
      (registrar.active.length - Math.min(10, TENANTS)) / registerSeconds,
      'tenants/s',
    );
    report.figure('registration: POST to active p50', quantile(registrar.latencies, 0.5), 'ms');
    report.figure('registration: POST to active p95', quantile(registrar.latencies, 0.95), 'ms');
    report.figure('registration: POST answered p95', quantile(registrar.answerLatencies, 0.95), 'ms');
    if (registrar.failed.length > 0) console.log(`  first failure: ${registrar.failed[0]}`);
    if (ARCHIVE_HALF) {
      await archiveHalf(report, { stack, api, json, clusters, clusterClients, control, registrar, keep: probe });
    }
    if (REGISTRATION_ONLY) {
      registrar.close();
      return;
    }

    // 3. Size: the gateway's memory, each cluster's catalog, connections at rest.
    report.figure('gateway RSS after registration', rssMb(stack.pids.gateway!), 'MB');
    for (const c of clusters) {
      const client = clusterClients.get(c.name)!;
      const { rows } = await client.query<{ classes: number; databases: number; bytes: string; catalog: string }>(
        `SELECT (SELECT count(*)::int FROM pg_class) AS classes,
                (SELECT count(*)::int FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres') AS databases,
                (SELECT sum(pg_database_size(datname))::text FROM pg_database) AS bytes,
                (SELECT sum(pg_total_relation_size(c.oid))::text FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = 'pg_catalog' AND c.relkind IN ('r', 't', 'm')) AS catalog`,
      );
      const row = rows[0]!;
      report.figure(`cluster ${c.name}: pg_class rows (schema database)`, row.classes, 'relations');
      report.figure(`cluster ${c.name}: system catalog size (schema database)`, Number(row.catalog) / 1024 ** 2, 'MB');
      report.figure(`cluster ${c.name}: databases`, row.databases, 'databases');
      report.figure(`cluster ${c.name}: all databases on disk`, Number(row.bytes) / 1024 ** 2, 'MB');
    }
    const sampler = connectionSampler(control, stack.db.name, [...clusterClients.values()]);
    await sleep(1_000);
    report.figure('all services PostgreSQL connections at rest', sampler.now(), 'connections');

    // 4. One tenant's backup with the whole fleet.
    const backupAtFleet = [await backupSeconds(api, json, probe), await backupSeconds(api, json, probe)];
    for (const [label, values] of [
      ['10 tenants', backupAtTen],
      [`${fleetSize} tenants`, backupAtFleet],
    ] as const) {
      report.figure(`backup of one tenant (${BACKUP_ROWS} rows) at ${label}, min`, Math.min(...values), 's');
      report.figure(`backup of one tenant (${BACKUP_ROWS} rows) at ${label}, max`, Math.max(...values), 's');
    }
    report.figure(`backup at ${fleetSize} / at 10, medians`, median(backupAtFleet) / median(backupAtTen), 'x', '≈ 1');

    // 5. Admin list.
    const adminLatencies: number[] = [];
    const queries = ['', 'plan=pro&status=active', 'region=eu-west-1', 'plan=enterprise', 'q=fleet'];
    let cursor: string | null = null;
    for (let r = 0; r < 250; r++) {
      const qs: string = r % 5 === 4 && cursor ? `cursor=${encodeURIComponent(cursor)}` : queries[r % 5]!;
      const t0 = performance.now();
      const page: { next_cursor: string | null } = await json(await api(`/api/admin/tenants?limit=50&${qs}`));
      adminLatencies.push(performance.now() - t0);
      if (r % 5 === 0) cursor = page.next_cursor;
    }
    report.figure('admin list p50', quantile(adminLatencies, 0.5), 'ms');
    report.figure('admin list p95', quantile(adminLatencies, 0.95), 'ms', '< 50 ms');

    // 6. The tenant API mix: all tenants calling, then IN_FLIGHT in flight.
    const extraDatabases = [...new Set([...registrar.placements.values()].filter((p) => p.kind === 'database'))].map(
      (p) => clusters.find((c) => c.name === p.cluster)!.server.url(p.database),
    );
    const tenants: Tenant[] = await mintKeys(control, stack.env, registrar.active, extraDatabases);
    const warmStarted = performance.now();
    const warm = await warmUp(stack.gatewayUrl, tenants);
    report.figure('API warm-up: every tenant once', (performance.now() - warmStarted) / 1000, 's');
    report.figure('API warm-up: 503 answers tried again', warm.retried, 'requests');
    report.figure('API warm-up: tenants that never answered 200', warm.failed, 'tenants', '0');
    sampler.reset();
    for (const phase of [
      { label: 'all tenants in flight', inFlight: tenants.length, seconds: Math.max(5, Math.round(SECONDS / 2)) },
      { label: `${IN_FLIGHT} in flight`, inFlight: IN_FLIGHT, seconds: SECONDS },
    ]) {
      const result = await load(stack.gatewayUrl, tenants, phase.inFlight, phase.seconds, mixKind);
      const figure = (name: string, value: number, unit: string, target?: string) =>
        report.figure(`API ${phase.label}: ${name}`, value, unit, target);
      const all = Object.values(result.latencies).flat();
      figure('throughput', result.total / result.seconds, 'rps');
      figure('errors', result.errors, 'requests', '0');
      figure('tenants served', result.tenantsServed, 'tenants');
      figure('latency p50', quantile(all, 0.5), 'ms');
      figure('latency p99', quantile(all, 0.99), 'ms', phase.inFlight === IN_FLIGHT ? '< 50 ms' : undefined);
      figure('GET me p50', quantile(result.latencies.me, 0.5), 'ms');
    }
    report.figure('all services PostgreSQL connections under the API load, max', sampler.max(), 'connections');
    report.describe({ connections_at_max: sampler.breakdownAtMax() });
    await sampler.stop();
    report.figure('gateway RSS after the API load', rssMb(stack.pids.gateway!), 'MB');

    // 7. A restarted gateway, twice.
    const restarts: number[] = [];
    for (let i = 0; i < 2; i++) {
      await stack.stopService('gateway');
      const t0 = performance.now();
      await stack.startService('gateway');
      restarts.push((performance.now() - t0) / 1000);
    }
    report.figure('restarted gateway ready, min', Math.min(...restarts), 's');
    report.figure('restarted gateway ready, max', Math.max(...restarts), 's');

    // 8. Full replay of each service's projections, the service stopped meanwhile.
    for (const service of REPLAYED) {
      await stack.stopService(service);
      const t0 = performance.now();
      const output = await replay(stack.env, service);
      const seconds = (performance.now() - t0) / 1000;
      await stack.startService(service);
      console.log(output.trim().replace(/^/gm, `  replay ${service}: `));
      const lines = [...output.matchAll(/rebuilt from (\d+) events .* in (\d+) ms/g)];
      const events = lines.reduce((sum, m) => sum + Number(m[1]), 0);
      const rebuildMs = lines.reduce((sum, m) => sum + Number(m[2]), 0);
      report.figure(`replay ${service}: all projections rebuilt`, rebuildMs / 1000, 's');
      report.figure(`replay ${service}: whole command (process start included)`, seconds, 's');
      report.figure(`replay ${service}: events applied`, events, 'events');
    }
    registrar.close();
  } catch (error) {
    // What was measured before the failure is kept, with where it stopped.
    report.describe({ failed: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    report.describe({ loadavg_at_end: loadavg().map((l) => l.toFixed(1)) });
    for (const client of clients) await client.end().catch(() => undefined);
    await stack?.stop();
    for (const c of clusters) c.server.stop();
    await report.save();
  }
}

/**
 * Registrations as an organization's admin makes them, REGISTER_IN_FLIGHT at a time, each awaited
 * until `tenant.provisioned` (or `provisioning-failed`) arrives on the EVENTS subjects.
 */
async function registrations(stack: ProcessStack, cpu: DeploymentCpu) {
  const nc = await connect({ servers: stack.nats.url });
  const waiting = new Map<string, (outcome: { placement?: Placement; failure?: string }) => void>();
  const early = new Map<string, { placement?: Placement; failure?: string }>();
  const settle = (tenantId: string, outcome: { placement?: Placement; failure?: string }) => {
    const resolve = waiting.get(tenantId);
    if (resolve) resolve(outcome);
    else early.set(tenantId, outcome);
  };
  const subscription = nc.subscribe(SubjectFilters.tenantEvents, {
    callback: (_err, msg) => {
      const type = msg.headers?.get(CloudEventHeaders.type);
      const tenantId = msg.subject.slice('evt.tenant.'.length);
      if (type === TenantProvisioned.type) {
        settle(tenantId, { placement: decodeData(TenantProvisioned, msg.data).placement as Placement });
      } else if (type === ProvisioningFailed.type) {
        const failed = decodeData(ProvisioningFailed, msg.data);
        settle(tenantId, { failure: `${failed.step}: ${failed.reason}` });
      }
    },
  });
  const state = {
    active: [] as string[],
    placements: new Map<string, Placement>(),
    failed: [] as string[],
    latencies: [] as number[],
    answerLatencies: [] as number[],
    retried: 0,
    /** Each active tenant's admin, to sign in as. */
    credentials: new Map<string, { email: string; password: string }>(),
  };
  const tag = Date.now().toString(36);
  const one = async (i: number) => {
    const plan = i % 20 === 0 ? 'enterprise' : i % 20 <= 3 ? 'free' : 'pro';
    const admin = { email: `admin${i}-${tag}@fleet.bench`, password: `Correct-Horse-${i}-Battery` };
    const body = JSON.stringify({
      organization_name: `Fleet ${tag} ${i}`,
      admin_email: admin.email,
      admin_password: admin.password,
      plan,
      // Alternate regions within each plan too (every 20th, the enterprise one, would otherwise be even).
      region: (i + Math.floor(i / 20)) % 2 === 0 ? 'us-east-1' : 'eu-west-1',
    });
    const t0 = performance.now();
    let response: Response;
    for (;;) {
      response = await fetch(`${stack.gatewayUrl}/api/auth/register-organization`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      if (response.status !== 503 && response.status !== 429) break;
      // A client does what Retry-After says.
      state.retried++;
      await response.text();
      await sleep(Number(response.headers.get('retry-after') ?? 1) * 1000);
    }
    state.answerLatencies.push(performance.now() - t0);
    if (response.status !== 202) {
      state.failed.push(`register #${i} (${plan}) answered ${response.status}: ${await response.text()}`);
      return;
    }
    const { tenant_id: tenantId } = (await response.json()) as { tenant_id: string };
    const outcome =
      early.get(tenantId) ??
      (await new Promise<{ placement?: Placement; failure?: string }>((resolve) => {
        const timer = setTimeout(() => resolve({ failure: 'not active after 300 s' }), 300_000);
        waiting.set(tenantId, (o) => {
          clearTimeout(timer);
          resolve(o);
        });
      }));
    waiting.delete(tenantId);
    early.delete(tenantId);
    if (!outcome.placement) {
      state.failed.push(`tenant ${tenantId} (${plan}): ${outcome.failure}`);
      return;
    }
    state.latencies.push(performance.now() - t0);
    state.active.push(tenantId);
    state.placements.set(tenantId, outcome.placement);
    state.credentials.set(tenantId, admin);
  };
  return Object.assign(state, {
    /** Register #from..#to-1; returns why it stopped early, or undefined. */
    async register(from: number, to: number): Promise<string | undefined> {
      let next = from;
      let stopped: string | undefined;
      let lastLog = performance.now();
      let lastDone = state.active.length + state.failed.length;
      let lastCpu = await cpu.snapshot();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: REGISTER_IN_FLIGHT }, async () => {
          while (next < to && !stopped) {
            if (Date.now() >= REGISTER_UNTIL) {
              stopped = `BENCH_REGISTER_UNTIL ${new Date(REGISTER_UNTIL).toISOString()} reached after #${next}`;
              break;
            }
            await one(next++);
            if (performance.now() - lastLog > 30_000) {
              const seconds = (performance.now() - lastLog) / 1000;
              lastLog = performance.now();
              const done = state.active.length + state.failed.length;
              const nowCpu = await cpu.snapshot();
              // CPU per tenant over the last interval, by process (ms): does it grow with the fleet?
              const perTenant = [...cpu.diff(lastCpu, nowCpu)]
                .filter(([, s]) => s > 0.05)
                .map(
                  ([p, s]) =>
                    `${p.replace(/^postgres /, 'pg ')} ${((s * 1000) / Math.max(1, done - lastDone)).toFixed(0)}`,
                )
                .join(', ');
              console.log(
                `  ${state.active.length} active, ${state.failed.length} failed, ` +
                  `${((done - from) / ((performance.now() - started) / 1000)).toFixed(1)} tenants/s ` +
                  `(last ${seconds.toFixed(0)} s: ${((done - lastDone) / seconds).toFixed(1)}), ` +
                  `gateway ${rssMb(stack.pids.gateway!).toFixed(0)} MB, disk free ${diskFreeGib()} GiB, ` +
                  `memory free ${(freemem() / 1024 ** 3).toFixed(1)} GiB, load ${loadavg()[0]!.toFixed(1)}\n` +
                  `    CPU ms per tenant: ${perTenant}`,
              );
              lastCpu = nowCpu;
              lastDone = done;
            }
          }
        }),
      );
      return stopped;
    },
    close() {
      subscription.unsubscribe();
      void nc.close();
    },
  });
}

/**
 * Every tenant lists its companies once, IN_FLIGHT at a time (its key verified and cached, pools
 * warm). A 503 (no free connection within the budget's wait) is tried again after its Retry-After,
 * as a client would, up to 10 times.
 */
async function warmUp(gatewayUrl: string, tenants: Tenant[]): Promise<{ retried: number; failed: number }> {
  let next = 0;
  let retried = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < tenants.length) {
        const tenant = tenants[next++]!;
        for (let attempt = 1; ; attempt++) {
          const response = await fetch(`${gatewayUrl}/api/tenant/objects/company?limit=1`, {
            headers: { 'x-api-key': tenant.key },
          }).catch(() => undefined);
          await response?.text();
          if (response?.status === 200) break;
          if (response?.status !== 503 || attempt === 10) {
            failed++;
            break;
          }
          retried++;
          await sleep(Number(response.headers.get('retry-after') ?? 1) * 1000);
        }
      }
    }),
  );
  return { retried, failed };
}

/** Seconds one on-demand backup of the tenant took (the service's own duration_ms). */
async function backupSeconds(
  api: ReturnType<typeof gatewayClient>['api'],
  json: ReturnType<typeof gatewayClient>['json'],
  tenantId: string,
): Promise<number> {
  const op = await json<{ operation_id: string }>(
    await api(`/api/admin/tenants/${tenantId}/backups`, { method: 'POST' }),
    [202],
  );
  const deadline = Date.now() + 600_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`backup ${op.operation_id} not done within 600 s`);
    const response = await api(`/api/admin/backups/${op.operation_id}`);
    if (response.status === 200) {
      const backup = (await response.json()) as { status: string; duration_ms: number | null };
      if (backup.status === 'failed') throw new Error(`backup ${op.operation_id} failed`);
      if (backup.status === 'completed') return (backup.duration_ms ?? Number.NaN) / 1000;
    } else {
      await response.text();
    }
    await sleep(100);
  }
}

interface ArchivePhase {
  stack: ProcessStack;
  api: ReturnType<typeof gatewayClient>['api'];
  json: ReturnType<typeof gatewayClient>['json'];
  clusters: Cluster[];
  clusterClients: Map<string, pg.Client>;
  control: pg.Client;
  registrar: Awaited<ReturnType<typeof registrations>>;
  /** A tenant left live (the backup probe). */
  keep: string;
}

/** One cluster's catalog as the schema database sees it, and the whole server on disk. */
async function catalogOf(
  client: pg.Client,
): Promise<{ classes: number; schemas: number; catalogMb: number; diskMb: number }> {
  const { rows } = await client.query<{ classes: number; schemas: number; bytes: string; catalog: string }>(
    `SELECT (SELECT count(*)::int FROM pg_class) AS classes,
            (SELECT count(*)::int FROM pg_namespace WHERE nspname LIKE 'workspace\\_%') AS schemas,
            (SELECT sum(pg_database_size(datname))::text FROM pg_database) AS bytes,
            (SELECT sum(pg_total_relation_size(c.oid))::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'pg_catalog' AND c.relkind IN ('r', 't', 'm')) AS catalog`,
  );
  const row = rows[0]!;
  return {
    classes: row.classes,
    schemas: row.schemas,
    catalogMb: Number(row.catalog) / 1024 ** 2,
    diskMb: Number(row.bytes) / 1024 ** 2,
  };
}

/**
 * BENCH_ARCHIVE_HALF: archive every other active tenant (as the idle sweep would ask), measure
 * what it gives back (catalog, disk, connections), then the time to bring archived tenants back
 * the way their users do: a sign-in answering 202 with the restore, followed until active.
 */
async function archiveHalf(report: BenchReport, p: ArchivePhase): Promise<void> {
  const measure = async (label: string) => {
    for (const c of p.clusters) {
      const client = p.clusterClients.get(c.name)!;
      const catalog = await catalogOf(client);
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity');
      report.figure(`archive half: cluster ${c.name} workspace schemas ${label}`, catalog.schemas, 'schemas');
      report.figure(`archive half: cluster ${c.name} pg_class rows ${label}`, catalog.classes, 'relations');
      report.figure(`archive half: cluster ${c.name} system catalog ${label}`, catalog.catalogMb, 'MB');
      report.figure(`archive half: cluster ${c.name} all databases on disk ${label}`, catalog.diskMb, 'MB');
      report.figure(`archive half: cluster ${c.name} server connections ${label}`, rows[0]!.n, 'connections');
    }
    const sampler = connectionSampler(p.control, p.stack.db.name, [...p.clusterClients.values()]);
    await sleep(1_000);
    report.figure(`archive half: all services PostgreSQL connections ${label}`, sampler.now(), 'connections');
    await sampler.stop();
  };
  const status = async (tenantId: string) =>
    (await p.json<{ status: string }>(await p.api(`/api/admin/tenants/${tenantId}`))).status;

  // The provisioner refills its warm pool of ready workspaces (WORKSPACE_WARM_POOL per cluster)
  // once registration is over: wait until no cluster's catalog changes any more, or the refill
  // would be counted against the archive.
  let last = '';
  for (let stable = 0, polls = 0; stable < 3 && polls < 150; polls++) {
    const now = JSON.stringify(
      await Promise.all(p.clusters.map(async (c) => (await catalogOf(p.clusterClients.get(c.name)!)).classes)),
    );
    stable = now === last ? stable + 1 : 0;
    last = now;
    await sleep(2_000);
  }
  await measure('before');
  const chosen = p.registrar.active.filter((id, k) => k % 2 === 1 && id !== p.keep);
  const started = performance.now();
  let next = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: ARCHIVE_IN_FLIGHT }, async () => {
      while (next < chosen.length) {
        const tenantId = chosen[next++]!;
        for (;;) {
          const response = await p.api(`/api/admin/tenants/${tenantId}/archive`, { method: 'POST' });
          if (response.status === 202) {
            await response.text();
            break;
          }
          if (response.status !== 503 && response.status !== 429) {
            refused++;
            console.log(`  archive of ${tenantId} answered ${response.status}: ${await response.text()}`);
            break;
          }
          await response.text();
          await sleep(Number(response.headers.get('retry-after') ?? 1) * 1000);
        }
      }
    }),
  );
  // Archived: the tenant recorded archived and its schema dropped (the archive's last step).
  let pending = [...chosen];
  const deadline = Date.now() + 60 * 60_000;
  while (pending.length > 0 && Date.now() < deadline) {
    const left: string[] = [];
    for (const id of pending) if ((await status(id)) !== 'archived') left.push(id);
    pending = left;
    if (pending.length > 0) await sleep(2_000);
  }
  const seconds = (performance.now() - started) / 1000;
  report.figure('archive half: tenants archived', chosen.length - pending.length, 'tenants', `${chosen.length}`);
  report.figure('archive half: refused', refused, 'tenants', '0');
  report.figure(
    'archive half: throughput (verified backup, drop)',
    (chosen.length - pending.length) / seconds,
    'tenants/s',
  );
  await sleep(2_000);
  await measure('after');

  // Bring two back by signing in, one after the other.
  const back: number[] = [];
  const answered: number[] = [];
  for (const tenantId of chosen.filter((id) => !pending.includes(id)).slice(0, 2)) {
    const admin = p.registrar.credentials.get(tenantId)!;
    const t0 = performance.now();
    const login = await fetch(`${p.stack.gatewayUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: admin.email, password: admin.password }),
    });
    const restoring = await p.json<{ operation_id: string }>(login, [202]);
    answered.push(performance.now() - t0);
    for (;;) {
      const operation = await p.json<{ status: string }>(await p.api(`/api/operations/${restoring.operation_id}`));
      if (operation.status === 'failed') throw new Error(`restore of archived tenant ${tenantId} failed`);
      if (operation.status === 'succeeded' && (await status(tenantId)) === 'active') break;
      await sleep(50);
    }
    back.push((performance.now() - t0) / 1000);
  }
  if (back.length > 0) {
    report.figure('archive half: sign-in answered 202, max', Math.max(...answered), 'ms');
    report.figure('archive half: sign-in to active again, min', Math.min(...back), 's');
    report.figure('archive half: sign-in to active again, max', Math.max(...back), 's');
  }
}

/** `npm run replay -- <service>` against this stack; its output. */
function replay(env: Record<string, string>, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `${root}scripts/replay.ts`, service], {
      cwd: root,
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`replay ${service} exited ${code}: ${output}`)),
    );
  });
}

function rssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

function diskFreeGib(): number {
  const s = statfsSync('/tmp');
  return Number(((s.bavail * s.bsize) / 1024 ** 3).toFixed(1));
}
