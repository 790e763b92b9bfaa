/**
 * The tenant API under many tenants: TENANTS organizations (default 2,000) provisioned through
 * the real path (HTTP register → provisioner saga with the warm schema pool → active), each given
 * an API key, then all of them calling the tenant API at once (closed loop, every request for a
 * random tenant), then IN_FLIGHT clients for ROUNDS rounds. Each round measures, one after the
 * other on the same server, so their ratios come from one run:
 *
 * - the tenant API mix: list 50 %, get 20 %, create 15 %, patch 15 % of companies (rps, p50, p99, errors);
 * - the same four statements straight on PostgreSQL: `../shared/anchors/pgbench-tenant-mix.sh`
 *   with as many clients as the gateway's data-plane pools hold (DATA_PLANE_POOL_MAX x 2 clusters),
 *   against the same server (target: the API mix >= 30 % of it);
 * - `GET /api/tenant/me` (authenticated, tenant request path, answered from memory) against the bare
 *   `GET /health/live`, each alone at IN_FLIGHT (target: /me >= 70 % of the bare route).
 *
 * Also the most PostgreSQL connections the gateway held on the data plane while serving them
 * (pg_stat_activity by application_name, sampled every 50 ms): one bounded pool per cluster
 * database, never one per tenant, so it stays at DATA_PLANE_POOL_MAX x clusters (2 here) however
 * many tenants call.
 *
 * API keys are inserted straight into the gateway's `api_keys` table (sha256 of a random secret,
 * exactly what `POST /api/tenant/api-keys` stores), rather than logging 2,000 admins in (argon2id,
 * ~25 s of both cores) and minting keys over HTTP: the calls measured then authenticate with the
 * real API-key path (cache miss on the first call of each key, memory after).
 *
 * BENCH_CPU_PROFILE=<dir>: the services write V8 CPU profiles there when they stop (`--cpu-prof`).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { CloudEventHeaders, SubjectFilters, TenantProvisioned } from '@ttm/contracts';
import { DATA_PLANE_APPLICATION_NAME } from '@ttm/gateway';
import { TEST_POSTGRES_URL } from '@ttm/service-kit/testing';
import pg from 'pg';
import { cpuSecondsOf } from './lib/cpu.js';
import { startProcessStack } from './lib/processStack.js';
import { BenchReport, quantile } from './lib/report.js';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 2_000);
const REGISTER_IN_FLIGHT = Number(process.env.BENCH_REGISTER_IN_FLIGHT ?? 50);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** 2 clusters x 6 data-plane connections + 8 control-plane ones: at most 20 from the gateway in all. */
const POOL_MAX = Number(process.env.BENCH_DATA_PLANE_POOL_MAX ?? 6);
const CONTROL_POOL_MAX = Number(process.env.BENCH_DB_POOL_MAX ?? 8);
const CONNECTION_LIMIT = POOL_MAX * 2 + CONTROL_POOL_MAX;
const CPU_PROFILE = process.env.BENCH_CPU_PROFILE;
/**
 * The load's HTTP client: keep-alive sockets, at most MAX_SOCKETS of them. Requests beyond that
 * wait in the client (thousands of simultaneous new connections would overflow the server's
 * accept backlog, which measures the kernel, not the API).
 */
const MAX_SOCKETS = Number(process.env.BENCH_SOCKETS ?? 256);
const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
const root = fileURLToPath(new URL('../', import.meta.url));

interface Tenant {
  tenantId: string;
  key: string;
  companies: string[];
}

type Kind = 'list' | 'get' | 'create' | 'patch' | 'me' | 'bare';
const recordKinds = ['list', 'get', 'create', 'patch'] as const;

/** The tenant API mix, as the pgbench anchor weighs its statements: list 50 %, get 20 %, create 15 %, patch 15 %. */
function mixKind(n: number): Kind {
  const r = n % 20;
  if (r < 10) return 'list';
  if (r < 14) return 'get';
  if (r < 17) return 'create';
  return 'patch';
}

export async function run(): Promise<void> {
  const report = new BenchReport('tenant-api');
  const stack = await startProcessStack(['gateway', 'provisioner'], {
    WORKSPACE_WARM_POOL: '64',
    DATA_PLANE_POOL_MAX: String(POOL_MAX),
    ...(process.env.BENCH_POOL_SHARDS ? { DATA_PLANE_POOL_SHARDS: process.env.BENCH_POOL_SHARDS } : {}),
    DATA_PLANE_CONNECTIONS_MAX: String(POOL_MAX * 2),
    DB_POOL_MAX: String(CONTROL_POOL_MAX),
    ...(CPU_PROFILE ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${CPU_PROFILE}` } : {}),
  });
  const anchor = anchorScript();
  report.describe({
    tenants: TENANTS,
    in_flight: IN_FLIGHT,
    seconds: SECONDS,
    rounds: ROUNDS,
    data_plane_pool_max: POOL_MAX,
    data_plane_pool_shards: process.env.BENCH_POOL_SHARDS ?? 'the gateway default (DATA_PLANE_POOL_SHARDS)',
    control_plane_pool_max: CONTROL_POOL_MAX,
    clusters: 2,
    phases: `every tenant in flight at once for ${Math.max(5, Math.round(SECONDS / 2))} s; then ${ROUNDS} rounds of: mix at ${IN_FLIGHT} in flight for ${SECONDS} s, pgbench anchor with ${POOL_MAX * 2} clients for ${SECONDS} s, /api/tenant/me and /health/live at ${IN_FLIGHT} in flight for ${Math.max(5, Math.round(SECONDS / 2))} s each`,
    mix: 'list 50 %, get 20 %, create 15 %, patch 15 % (as the pgbench anchor)',
    anchor: anchor ?? 'not found (set PGBENCH_ANCHOR): no pgbench ratio',
    client_sockets: MAX_SOCKETS,
    load_average_at_start: loadavg().map((l) => Number(l.toFixed(2))),
    services:
      'gateway + provisioner as processes; PostgreSQL, nats-server, Redis, pgbench and this client share the machine',
  });
  const admin = new pg.Client({ connectionString: stack.db.url });
  await admin.connect();
  const nc = await connect({ servers: stack.nats.url });
  try {
    // 1. Provision the tenants through the real path.
    const provisioningStarted = performance.now();
    const tenantIds = await provision(stack.gatewayUrl, nc, TENANTS);
    const provisioningSeconds = (performance.now() - provisioningStarted) / 1000;
    report.figure('provisioning: tenants active', tenantIds.length, 'tenants');
    report.figure('provisioning: throughput', tenantIds.length / provisioningSeconds, 'tenants/s');

    // 2. One API key per tenant, acting as its admin.
    const tenants = await mintKeys(admin, stack.env, tenantIds);

    // 3. Warm-up: every tenant calls once (its key verified and cached, pools and JIT warm).
    const warmStarted = performance.now();
    const retried = await warmUp(stack.gatewayUrl, tenants);
    report.figure('warm-up: every tenant once', (performance.now() - warmStarted) / 1000, 's');
    report.figure('warm-up: answers 503 (database busy), tried again', retried, 'requests');

    let worst = 0;
    const shortSeconds = Math.max(5, Math.round(SECONDS / 2));
    const mixPhase = async (label: string, inFlight: number, seconds: number) => {
      const sampler = connectionSampler(admin, stack.db.name);
      const cpuBefore = cpuSecondsOf(stack.pids.gateway!);
      const result = await load(stack.gatewayUrl, tenants, inFlight, seconds, mixKind);
      const cpuAfter = cpuSecondsOf(stack.pids.gateway!);
      const connections = await sampler.stop();
      worst = Math.max(worst, connections.allMax);
      const figure = (name: string, value: number, unit: string, target?: string) =>
        report.figure(`${label}: ${name}`, value, unit, target);
      figure(
        'data-plane connections from the gateway, max',
        connections.dataPlaneMax,
        'connections',
        `<= ${POOL_MAX * 2}`,
      );
      figure('all gateway PostgreSQL connections, max', connections.allMax, 'connections', `<= ${CONNECTION_LIMIT}`);
      figure('tenants served', result.tenantsServed, 'tenants', `${tenants.length}`);
      figure('requests', result.total, 'requests');
      figure('errors', result.errors, 'requests', '0');
      const rps = result.total / result.seconds;
      figure('throughput', rps, 'rps');
      const all = recordKinds.flatMap((k) => result.latencies[k]);
      figure('latency p50', quantile(all, 0.5), 'ms');
      figure('latency p99', quantile(all, 0.99), 'ms', inFlight === IN_FLIGHT ? '< 50' : undefined);
      for (const kind of recordKinds) figure(`latency p99 ${kind}`, quantile(result.latencies[kind], 0.99), 'ms');
      figure('gateway cpu per request', ((cpuAfter - cpuBefore) / result.total) * 1000, 'ms');
      return rps;
    };

    // 4. Every tenant with a call in flight at once (one closed-loop client per tenant).
    await mixPhase(`${tenants.length} in flight`, tenants.length, shortSeconds);

    // 5. Rounds at IN_FLIGHT: the mix, the database's own speed for it, /me against the bare route.
    const summary = { mix: [] as number[], anchor: [] as number[], toAnchor: [] as number[], toBare: [] as number[] };
    for (let round = 1; round <= ROUNDS; round++) {
      const label = `round ${round}`;
      report.figure(`${label}: load average (1 min) at start`, loadavg()[0]!, '');
      const mixRps = await mixPhase(`${label} ${IN_FLIGHT} in flight`, IN_FLIGHT, SECONDS);
      summary.mix.push(mixRps);
      // What serving every tenant costs PostgreSQL, read before the sessions go idle: the private
      // memory of the gateway's data-plane sessions (mostly the catalog entries of every workspace
      // each one touched; see DATA_PLANE_POOL_SHARDS). PostgreSQL runs on this machine.
      const sessions = await dataPlaneSessionMemory(admin, stack.db.name);
      if (sessions.length > 0) {
        const total = sessions.reduce((sum, kb) => sum + kb, 0) / 1024;
        report.figure(`${label}: PostgreSQL private memory of the gateway data-plane sessions`, total, 'MB');
        report.figure(`${label}: the same per session, largest`, Math.max(...sessions) / 1024, 'MB');
      }
      if (anchor) {
        const tps = await pgbenchAnchor(anchor, POOL_MAX * 2, SECONDS);
        report.figure(`${label}: pgbench tenant mix, ${POOL_MAX * 2} clients`, tps, 'tps');
        report.figure(`${label}: tenant API mix / pgbench`, (mixRps / tps) * 100, '%', '>= 30');
        summary.anchor.push(tps);
        summary.toAnchor.push((mixRps / tps) * 100);
      }
      const me = await load(stack.gatewayUrl, tenants, IN_FLIGHT, shortSeconds, () => 'me');
      const bare = await load(stack.gatewayUrl, tenants, IN_FLIGHT, shortSeconds, () => 'bare');
      const meRps = me.total / me.seconds;
      const bareRps = bare.total / bare.seconds;
      report.figure(`${label}: GET /api/tenant/me throughput`, meRps, 'rps');
      report.figure(`${label}: GET /api/tenant/me latency p99`, quantile(me.latencies.me, 0.99), 'ms');
      report.figure(`${label}: GET /api/tenant/me errors`, me.errors, 'requests', '0');
      report.figure(`${label}: GET /health/live throughput`, bareRps, 'rps');
      report.figure(`${label}: /api/tenant/me / bare route`, (meRps / bareRps) * 100, '%', '>= 70');
      summary.toBare.push((meRps / bareRps) * 100);
    }
    const spread = (name: string, values: number[], unit: string) => {
      if (values.length === 0) return;
      report.figure(`${name}, lowest of ${values.length} rounds`, Math.min(...values), unit);
      report.figure(`${name}, highest of ${values.length} rounds`, Math.max(...values), unit);
    };
    spread('tenant API mix throughput', summary.mix, 'rps');
    spread('pgbench anchor', summary.anchor, 'tps');
    spread('tenant API mix / pgbench', summary.toAnchor, '%');
    spread('/api/tenant/me / bare route', summary.toBare, '%');
    report.figure('load average (1 min) at the end', loadavg()[0]!, '');
    if (worst > CONNECTION_LIMIT) {
      throw new Error(`the gateway held ${worst} PostgreSQL connections (limit ${CONNECTION_LIMIT})`);
    }
  } finally {
    await nc.close();
    await admin.end();
    await stack.stop();
  }
  await report.save();
}

/** The pgbench anchor script: PGBENCH_ANCHOR, else `../shared/anchors/` next to the repository (or its main worktree). */
function anchorScript(): string | undefined {
  const candidates = [
    process.env.PGBENCH_ANCHOR,
    `${root}../shared/anchors/pgbench-tenant-mix.sh`,
    `${root}../../shared/anchors/pgbench-tenant-mix.sh`,
  ];
  return candidates.find((c): c is string => c !== undefined && existsSync(c));
}

/** The anchor's tps with `clients` connections, on the server the bench's databases are on. */
async function pgbenchAnchor(script: string, clients: number, seconds: number): Promise<number> {
  const server = new URL(TEST_POSTGRES_URL);
  const { stdout } = await promisify(execFile)('bash', [script, String(clients), String(seconds)], {
    env: {
      ...process.env,
      PGHOST: server.hostname,
      PGPORT: server.port || '5432',
      PGUSER: decodeURIComponent(server.username || 'postgres'),
    },
  });
  const tps = /pgbench tenant mix: (\d+) tps/.exec(stdout)?.[1];
  if (!tps) throw new Error(`the pgbench anchor printed no tps: ${stdout}`);
  return Number(tps);
}

/** Register `count` organizations, REGISTER_IN_FLIGHT at a time, each awaited until provisioned. */
async function provision(
  gatewayUrl: string,
  nc: Awaited<ReturnType<typeof connect>>,
  count: number,
): Promise<string[]> {
  const waiting = new Map<string, () => void>();
  const provisioned = new Set<string>();
  const subscription = nc.subscribe(SubjectFilters.tenantEvents, {
    callback: (_err, msg) => {
      if (msg.headers?.get(CloudEventHeaders.type) !== TenantProvisioned.type) return;
      const tenantId = msg.subject.slice('evt.tenant.'.length);
      provisioned.add(tenantId);
      waiting.get(tenantId)?.();
    },
  });
  const ids: string[] = [];
  let next = 0;
  const register = async (i: number) => {
    const response = await fetch(`${gatewayUrl}/api/auth/register-organization`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        organization_name: `Tenant API Bench ${i}`,
        admin_email: `admin${i}@tenant-api.bench`,
        admin_password: `Correct-Horse-${i}-Battery`,
        plan: 'pro',
        region: i % 2 === 0 ? 'us-east-1' : 'eu-west-1',
      }),
    });
    if (response.status !== 202) throw new Error(`register answered ${response.status}: ${await response.text()}`);
    const { tenant_id: tenantId } = (await response.json()) as { tenant_id: string };
    if (!provisioned.has(tenantId)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`tenant ${tenantId} not active after 60 s`)), 60_000);
        waiting.set(tenantId, () => {
          clearTimeout(timer);
          waiting.delete(tenantId);
          resolve();
        });
      });
    }
    ids.push(tenantId);
    if (ids.length % 250 === 0) console.log(`  ${ids.length}/${count} tenants active`);
  };
  try {
    await Promise.all(
      Array.from({ length: REGISTER_IN_FLIGHT }, async () => {
        while (next < count) await register(next++);
      }),
    );
  } finally {
    subscription.unsubscribe();
  }
  return ids;
}

// `bench/fleet.ts` runs the same mix over its fleet.
export { load, mintKeys, mixKind, type Tenant };

/**
 * An API key per tenant, stored as the gateway stores one, for the tenant's admin user (read from
 * every cluster in REGIONS and from `extraDatabases`, the dedicated databases of isolated tenants).
 */
async function mintKeys(
  admin: pg.Client,
  env: Record<string, string>,
  tenantIds: string[],
  extraDatabases: string[] = [],
): Promise<Tenant[]> {
  const admins = new Map<string, string>();
  const regions = JSON.parse(env.REGIONS!) as { clusters: { url: string }[] }[];
  for (const url of [...regions.flatMap((r) => r.clusters.map((c) => c.url)), ...extraDatabases]) {
    const cluster = new pg.Client({ connectionString: url });
    await cluster.connect();
    try {
      const { rows } = await cluster.query<{ workspace: string; user: string }>(
        `SELECT "workspaceId"::text AS workspace, "userId"::text AS user FROM core."userWorkspace"`,
      );
      for (const row of rows) admins.set(row.workspace, row.user);
    } finally {
      await cluster.end();
    }
  }
  const tenants: Tenant[] = [];
  const rows: unknown[][] = [];
  for (const tenantId of tenantIds) {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const userId = admins.get(tenantId);
    if (!userId) throw new Error(`tenant ${tenantId} has no user in its workspace`);
    rows.push([id, tenantId, 'bench', createHash('sha256').update(secret).digest(), userId]);
    tenants.push({ tenantId, key: `ttm_${id.replaceAll('-', '')}_${secret}`, companies: [] });
  }
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    await admin.query(
      `INSERT INTO gateway.api_keys (id, tenant_id, name, secret_hash, created_by)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::uuid[])`,
      [0, 1, 2, 3, 4].map((c) => chunk.map((r) => r[c])),
    );
  }
  return tenants;
}

/** Max connections held, sampled every 50 ms: the gateway's data-plane pools, and everything the gateway holds. */
/** Private_Dirty (kB) of each data-plane session of the gateway, from /proc of its backend. */
async function dataPlaneSessionMemory(admin: pg.Client, controlDatabase: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname LIKE $2`,
    [DATA_PLANE_APPLICATION_NAME, `${controlDatabase}\\_%`],
  );
  const sizes: number[] = [];
  for (const { pid } of rows) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const kb = /Private_Dirty:\s+(\d+) kB/.exec(rollup)?.[1];
      if (kb) sizes.push(Number(kb));
    } catch {
      // The session closed meanwhile, or PostgreSQL runs elsewhere.
    }
  }
  return sizes;
}

function connectionSampler(admin: pg.Client, controlDatabase: string) {
  let dataPlaneMax = 0;
  let allMax = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const { rows } = await admin.query<{ data_plane: number; all: number }>(
        // This run's databases only: other runs on the server use the same application names.
        `SELECT count(*) FILTER (WHERE application_name = $1)::int AS data_plane,
                count(*) FILTER (WHERE application_name LIKE 'ttm-gateway%')::int AS all
           FROM pg_stat_activity WHERE datname = $2 OR datname LIKE $3`,
        [DATA_PLANE_APPLICATION_NAME, controlDatabase, `${controlDatabase}\\_%`],
      );
      dataPlaneMax = Math.max(dataPlaneMax, rows[0]!.data_plane);
      allMax = Math.max(allMax, rows[0]!.all);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { dataPlaneMax, allMax };
    },
  };
}

function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Warm-up answers that were 503 (database busy) and were tried again. */
let warmUpRetries = 0;

async function warmUp(gatewayUrl: string, tenants: Tenant[]): Promise<number> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < tenants.length) {
        const tenant = tenants[next++]!;
        // A cold start (every schema's tables new to every connection) may queue past the
        // connection budget's wait limit: 503 with Retry-After, tried again here.
        for (let attempt = 1; ; attempt++) {
          const response = await send('GET', `${gatewayUrl}/api/tenant/objects/company?limit=1`, {
            'x-api-key': tenant.key,
          });
          if (response.status === 200) break;
          if (response.status !== 503 || attempt === 10) {
            throw new Error(`warm-up answered ${response.status}: ${response.text}`);
          }
          warmUpRetries++;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }),
  );
  return warmUpRetries;
}

async function load(
  gatewayUrl: string,
  tenants: Tenant[],
  inFlight: number,
  seconds: number,
  pick: (n: number) => Kind,
) {
  const latencies: Record<Kind, number[]> = { list: [], get: [], create: [], patch: [], me: [], bare: [] };
  const served = new Set<string>();
  let total = 0;
  let errors = 0;
  let firstError: string | undefined;
  let round = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();

  const one = async (tenant: Tenant, kind: Kind): Promise<void> => {
    const headers: Record<string, string> = kind === 'bare' ? {} : { 'x-api-key': tenant.key };
    const known = tenant.companies[Math.floor(Math.random() * tenant.companies.length)];
    let url = `${gatewayUrl}/api/tenant/objects/company`;
    let method = 'GET';
    let body: string | undefined;
    if (kind === 'me') url = `${gatewayUrl}/api/tenant/me`;
    else if (kind === 'bare') url = `${gatewayUrl}/health/live`;
    else if (kind === 'list') url += '?limit=20';
    else if ((kind === 'get' || kind === 'patch') && known === undefined) kind = 'create';
    if (kind === 'get') url += `/${known}`;
    if (kind === 'create') {
      method = 'POST';
      body = JSON.stringify({
        name: `Company ${total}`,
        employees: total % 500,
        idealCustomerProfile: total % 2 === 0,
      });
    }
    if (kind === 'patch') {
      method = 'PATCH';
      url += `/${known}`;
      body = JSON.stringify({ employees: total % 1000 });
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const t0 = performance.now();
    const response = await send(method, url, headers, body);
    const text = response.text;
    const ms = performance.now() - t0;
    total++;
    if (response.status >= 400) {
      errors++;
      firstError ??= `${method} ${url} → ${response.status} ${text.slice(0, 300)}`;
      return;
    }
    latencies[kind].push(ms);
    served.add(tenant.tenantId);
    if (kind === 'create') tenant.companies.push((JSON.parse(text) as { id: string }).id);
  };

  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      // Each worker walks the tenants from its own offset, so all of them are busy from the start.
      let i = Math.floor((worker * tenants.length) / inFlight);
      while (performance.now() < deadline) {
        const tenant = tenants[i++ % tenants.length]!;
        await one(tenant, pick(round++)).catch((error: unknown) => {
          errors++;
          firstError ??= `${String(error)} (${String((error as { cause?: unknown }).cause ?? '')})`;
        });
      }
    }),
  );
  if (firstError) console.log(`  first error: ${firstError}`);
  return { latencies, total, errors, tenantsServed: served.size, seconds: (performance.now() - started) / 1000 };
}
