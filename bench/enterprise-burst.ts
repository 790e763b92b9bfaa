/**
 * A burst of BENCH_TENANTS (default 500) enterprise registrations at once (issue 9): every
 * enterprise tenant gets a dedicated database (CREATE DATABASE on its cluster), so a burst asks
 * the data plane for many new databases and pools at the same moment. The target: no 5xx other
 * than 503 (and never a 500), no provisioning that fails for lack of connections, and all
 * services together under the deployment's connection budget on the data-plane server.
 *
 * - The data plane is one PRIVATE PostgreSQL server (initdb + pg_ctl under the temporary
 *   directory, removed at the end; max_connections BENCH_MAX_CONNECTIONS, default 100 as on this
 *   machine's server) holding both regions' cluster databases, so every service's budget on it
 *   is one budget. The control plane is this run's database on the machine's server.
 * - All six services run as processes as `npm start` runs them, with their defaults: the backup
 *   scheduler stays on (BACKUP_SCHEDULE_EVERY 1 min; enterprise plans are backed up hourly), so
 *   the new tenants' first scheduled backups queue for connections of the same budget during and
 *   after the burst, as in a deployment.
 * - The client sends every POST at once (one closed batch: BENCH_TENANTS requests started in
 *   the same tick over as many sockets, undici's default pool being unbounded), each with an
 *   Idempotency-Key; a 503, 409 (same key still running) or 429 is sent again with the same key
 *   after its Retry-After, as a client would.
 * - Activity comes from the `tenant.provisioned` / `provisioning-failed` events; while the burst
 *   runs, four readers poll `GET /api/auth/provisioning-status/{id}` of pending registrations
 *   (answered from the gateway's memory), and every tenant's status is read once after it.
 * - pg_stat_activity on the data-plane server and on the control-plane database every 250 ms;
 *   after the last tenant is active the sampling goes on for BENCH_SETTLE_SECONDS (default 90)
 *   while the scheduled backups of the new tenants run.
 */
import { execFileSync } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { connect } from '@nats-io/transport-node';
import { CloudEventHeaders, decodeData, ProvisioningFailed, SubjectFilters, TenantProvisioned } from '@ttm/contracts';
import pg from 'pg';
import { connectionSampler } from './lib/connectionSampler.js';
import { deploymentCpu } from './lib/deploymentCpu.js';
import { BENCH_PASSWORD } from './lib/gatewayClient.js';
import { sleep } from './lib/polling.js';
import { type PrivatePostgres, startPrivatePostgres } from './lib/privatePostgres.js';
import { type ProcessStack, startProcessStack } from './lib/processStack.js';
import { BenchReport, quantile } from './lib/report.js';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 500);
const MAX_CONNECTIONS = Number(process.env.BENCH_MAX_CONNECTIONS ?? 100);
const SETTLE_SECONDS = Number(process.env.BENCH_SETTLE_SECONDS ?? 90);
const ACTIVE_TIMEOUT_MS = Number(process.env.BENCH_ACTIVE_TIMEOUT_MS ?? 900_000);
const SERVICES = ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks'];
const CLUSTERS = [
  { region: 'us-east-1', name: 'use1-a', database: 'ttm_burst_use1' },
  { region: 'eu-west-1', name: 'euw1-a', database: 'ttm_burst_euw1' },
];
/** The application_name of the gateway's data-plane sessions (its control-plane ones are `ttm-gateway`). */
const GATEWAY_DATA_PLANE_APP = 'ttm-gateway-dataplane';
/** Attempts of one registration (503, 409, 429 and lost connections are tried again). */
const MAX_ATTEMPTS = 50;

interface Registration {
  index: number;
  key: string;
  body: string;
  sentAt: number;
  attempts: number;
  tenantId?: string;
  provisioningId?: string;
  /** Final HTTP answer, or why it stopped trying. */
  answer?: number | string;
  answeredAt?: number;
  activeAt?: number;
  failure?: string;
}

export async function run(): Promise<void> {
  const report = new BenchReport('enterprise-burst');
  let server: PrivatePostgres | undefined;
  let stack: ProcessStack | undefined;
  const clients: pg.Client[] = [];
  const diskBefore = diskFreeGib();
  console.log(df());
  try {
    server = await startPrivatePostgres('ttm-bench-burst-', {
      max_connections: String(MAX_CONNECTIONS),
      shared_buffers: '128MB',
    });
    const admin = new pg.Client({ connectionString: server.url('postgres') });
    await admin.connect();
    clients.push(admin);
    for (const c of CLUSTERS) await admin.query(`CREATE DATABASE ${c.database}`);
    const regions = ['us-east-1', 'eu-west-1'].map((name) => ({
      name,
      clusters: CLUSTERS.filter((c) => c.region === name).map((c) => ({
        name: c.name,
        url: server!.url(c.database),
        capacity: 100_000,
      })),
    }));
    stack = await startProcessStack(SERVICES, { REGIONS: JSON.stringify(regions), LOG_LEVEL: 'warn' });
    const budgetPercent = Number(stack.env.DATA_PLANE_CONNECTION_BUDGET ?? 50);
    const budget = Math.floor((MAX_CONNECTIONS * budgetPercent) / 100);
    report.describe({
      tenants: TENANTS,
      plan: 'enterprise (a dedicated database each), regions alternating',
      data_plane: `private PostgreSQL :${server.port}, max_connections ${MAX_CONNECTIONS}, both regions' clusters on it`,
      budget: `DATA_PLANE_CONNECTION_BUDGET ${budgetPercent} % = ${budget} connections, shares at their defaults`,
      client: `${TENANTS} POSTs at once (one closed batch, one socket each), Idempotency-Key, retried after Retry-After`,
      services: `${SERVICES.join(', ')} as processes; backup scheduler on (default 1 min)`,
      loadavg_at_start: loadavg().map((l) => l.toFixed(1)),
      disk_free_gib_at_start: diskBefore,
    });

    const control = new pg.Client({ connectionString: stack.db.url });
    await control.connect();
    clients.push(control);
    const dataPlane = new pg.Client({ connectionString: server.url('postgres') });
    await dataPlane.connect();
    clients.push(dataPlane);
    const cpu = deploymentCpu(stack, [{ name: 'data plane', dataDir: `${server.dir}/data` }], control);

    const nc = await connect({ servers: stack.nats.url });
    const byTenant = new Map<string, Registration>();
    const outcomes = new Map<string, { at: number; failure?: string }>();
    let settled = 0;
    let allSettled: () => void = () => undefined;
    const everyOutcome = new Promise<void>((resolve) => {
      allSettled = resolve;
    });
    const settle = (tenantId: string, outcome: { at: number; failure?: string }) => {
      if (outcomes.has(tenantId)) return;
      outcomes.set(tenantId, outcome);
      const r = byTenant.get(tenantId);
      if (r) apply(r, outcome);
    };
    const apply = (r: Registration, outcome: { at: number; failure?: string }) => {
      if (outcome.failure) r.failure = outcome.failure;
      else r.activeAt = outcome.at;
      if (++settled === TENANTS) allSettled();
    };
    const subscription = nc.subscribe(SubjectFilters.tenantEvents, {
      callback: (_err, msg) => {
        const type = msg.headers?.get(CloudEventHeaders.type);
        const tenantId = msg.subject.slice('evt.tenant.'.length);
        if (type === TenantProvisioned.type) settle(tenantId, { at: performance.now() });
        else if (type === ProvisioningFailed.type) {
          const failed = decodeData(ProvisioningFailed, msg.data);
          settle(tenantId, { at: performance.now(), failure: `${failed.step}: ${failed.reason}` });
        }
      },
    });

    const tag = Date.now().toString(36);
    const registrations: Registration[] = Array.from({ length: TENANTS }, (_, i) => ({
      index: i,
      key: `burst-${tag}-${i}`,
      body: JSON.stringify({
        organization_name: `Burst ${tag} ${i}`,
        admin_email: `admin${i}-${tag}@burst.bench`,
        admin_password: BENCH_PASSWORD,
        plan: 'enterprise',
        region: i % 2 === 0 ? 'us-east-1' : 'eu-west-1',
      }),
      sentAt: 0,
      attempts: 0,
    }));
    /** Every HTTP answer of the registration POSTs, first tries and retries. */
    const answers = new Map<string, number>();
    const count = (what: string) => answers.set(what, (answers.get(what) ?? 0) + 1);
    const examples = new Map<string, string>();

    const sampler = connectionSampler(control, stack.db.name, [dataPlane]);
    const cpuBefore = await cpu.snapshot();
    const started = performance.now();
    const post = async (r: Registration) => {
      r.sentAt = performance.now();
      while (r.attempts < MAX_ATTEMPTS) {
        r.attempts++;
        let response: Response;
        try {
          response = await fetch(`${stack!.gatewayUrl}/api/auth/register-organization`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': r.key },
            body: r.body,
          });
        } catch (error) {
          count('no answer (connection error)');
          examples.set('no answer', String((error as { cause?: unknown }).cause ?? error));
          await sleep(1_000);
          continue;
        }
        const text = await response.text();
        const retryAfter = response.headers.get('retry-after');
        const label = `${response.status}${response.status >= 400 && retryAfter ? ' with Retry-After' : ''}`;
        count(label);
        if (response.status !== 202 && !examples.has(label)) examples.set(label, text.slice(0, 300));
        if (response.status === 202) {
          const accepted = JSON.parse(text) as { tenant_id: string; provisioning_id: string };
          r.answer = 202;
          r.answeredAt = performance.now();
          r.tenantId = accepted.tenant_id;
          r.provisioningId = accepted.provisioning_id;
          byTenant.set(accepted.tenant_id, r);
          const early = outcomes.get(accepted.tenant_id);
          if (early) apply(r, early);
          return;
        }
        if ((response.status === 503 || response.status === 409 || response.status === 429) && retryAfter) {
          await sleep(Number(retryAfter) * 1000);
          continue;
        }
        r.answer = response.status;
        break;
      }
      r.answer ??= `gave up after ${MAX_ATTEMPTS} attempts`;
      if (++settled === TENANTS) allSettled();
    };
    const posts = Promise.all(registrations.map(post));
    const statusReads = pollStatuses(stack.gatewayUrl, registrations, everyOutcome);
    let progress: NodeJS.Timeout | undefined;
    const logProgress = () => {
      const active = registrations.filter((r) => r.activeAt !== undefined).length;
      const failed = registrations.filter((r) => r.failure).length;
      const answered = registrations.filter((r) => r.answer !== undefined).length;
      console.log(
        `  ${((performance.now() - started) / 1000).toFixed(0)} s: ${answered} answered, ${active} active, ${failed} failed; ` +
          `connections now ${sampler.now()} (most: ${sampler.max()}, data plane ${sampler.dataPlaneMax()}); load ${loadavg()[0]!.toFixed(1)}`,
      );
    };
    progress = setInterval(logProgress, 10_000);
    const timedOut = await Promise.race([everyOutcome.then(() => false), sleep(ACTIVE_TIMEOUT_MS).then(() => true)]);
    const allDoneMs = performance.now() - started;
    await posts;
    const cpuAfter = await cpu.snapshot();
    clearInterval(progress);
    progress = undefined;
    logProgress();
    const reads = await statusReads;
    const burstMax = { all: sampler.max(), atAll: sampler.breakdownAtMax() };
    const burstDataPlaneMax = {
      n: sampler.dataPlaneMax(),
      at: sampler.breakdownAtDataPlaneMax(),
      byApplication: sampler.dataPlaneMaxByApplication(),
    };

    // 1. The HTTP answers.
    for (const [what, n] of [...answers].sort()) report.figure(`POST answers: ${what}`, n, 'answers');
    for (const [what, text] of examples) console.log(`  example ${what}: ${text}`);
    const serverErrors = [...answers].filter(([what]) => /^5/.test(what) && !what.startsWith('503 with')).length;
    report.figure(
      'POST answers: 5xx other than 503 with Retry-After',
      [...answers].filter(([what]) => /^5/.test(what) && !what.startsWith('503 with')).reduce((s, [, n]) => s + n, 0),
      'answers',
      '0',
    );
    report.figure('POST answers: 500', answers.get('500') ?? 0, 'answers', '0');
    report.figure(
      'registrations never accepted (no 202)',
      registrations.filter((r) => r.answer !== 202).length,
      'registrations',
      '0',
    );
    for (const r of registrations.filter((x) => x.answer !== 202).slice(0, 3))
      console.log(`  not accepted #${r.index}: ${r.answer}`);
    const answered = registrations.filter((r) => r.answeredAt !== undefined).map((r) => r.answeredAt! - r.sentAt);
    report.figure('POST answered (202) from first send, p50', quantile(answered, 0.5), 'ms');
    report.figure('POST answered (202) from first send, p95', quantile(answered, 0.95), 'ms');

    // 2. Provisionings.
    const active = registrations.filter((r) => r.activeAt !== undefined);
    const failed = registrations.filter((r) => r.failure);
    report.figure('provisionings active', active.length, 'tenants', `${TENANTS}`);
    report.figure('provisionings failed', failed.length, 'tenants', '0');
    if (timedOut) report.describe({ timed_out: `not all settled within ${ACTIVE_TIMEOUT_MS} ms` });
    for (const r of failed.slice(0, 5)) console.log(`  failed #${r.index} (${r.tenantId}): ${r.failure}`);
    report.figure('time until all active (first POST to last provisioned)', allDoneMs / 1000, 's');
    const toActive = active.map((r) => r.activeAt! - r.sentAt);
    report.figure('POST to active p50', quantile(toActive, 0.5), 'ms');
    report.figure('POST to active p95', quantile(toActive, 0.95), 'ms');
    report.figure('throughput over the burst', active.length / (allDoneMs / 1000), 'tenants/s');

    // 3. Status reads while it ran.
    report.figure('status reads during the burst', reads.latencies.length, 'reads');
    report.figure('status reads: not 200', reads.errors, 'reads', '0');
    report.figure('status read p50', quantile(reads.latencies, 0.5), 'ms');
    report.figure('status read p95', quantile(reads.latencies, 0.95), 'ms');
    report.figure(
      'active tenants whose status read after the burst is not active',
      await statusesAfter(stack.gatewayUrl, active),
      'tenants',
      '0',
    );

    // 4. CPU per registration.
    let cpuTotal = 0;
    for (const [process, seconds] of cpu.diff(cpuBefore, cpuAfter)) {
      report.figure(`CPU per registration: ${process}`, (seconds * 1000) / Math.max(1, active.length), 'ms');
      cpuTotal += seconds;
    }
    report.figure('CPU per registration: all processes', (cpuTotal * 1000) / Math.max(1, active.length), 'ms');

    // 5. Connections, during the burst and while the new tenants' first backups run.
    report.figure(
      'data-plane connections of all services during the burst, most',
      burstDataPlaneMax.n,
      'connections',
      `≤ ${budget} (budget: ${budgetPercent} % of max_connections ${MAX_CONNECTIONS})`,
    );
    report.figure(
      'connections of all services during the burst incl. control plane, most',
      burstMax.all,
      'connections',
    );
    report.describe({
      data_plane_at_most: burstDataPlaneMax.at,
      all_at_most: burstMax.atAll,
    });
    // Each service's own most on the data plane against its own limit (its share of the budget).
    const limits = await serviceLimits(stack.env);
    for (const [service, limit] of Object.entries(limits)) {
      report.figure(
        `${service}: data-plane connections during the burst, most`,
        burstDataPlaneMax.byApplication[service === 'gateway' ? GATEWAY_DATA_PLANE_APP : `ttm-${service}`] ?? 0,
        'connections',
        `≤ ${limit} (its share)`,
      );
    }
    sampler.reset();
    const settleStarted = performance.now();
    while (performance.now() - settleStarted < SETTLE_SECONDS * 1000) await sleep(1_000);
    report.figure(
      `data-plane connections in the ${SETTLE_SECONDS} s after (scheduled backups), most`,
      sampler.dataPlaneMax(),
      'connections',
      `≤ ${budget}`,
    );
    report.describe({
      after_data_plane_at_most: sampler.breakdownAtDataPlaneMax(),
      after_data_plane_most_by_application: sampler.dataPlaneMaxByApplication(),
    });
    await sampler.stop();
    const backups = await control.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM backup.backups GROUP BY 1 ORDER BY 1',
    );
    for (const b of backups.rows) report.figure(`scheduled backups ${b.status} by the end`, b.n, 'backups');
    const sessions = await dataPlane.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'ttm_burst_%_ws_%'`,
    );
    report.figure('dedicated databases on the data-plane server', sessions.rows[0]?.n ?? 0, 'databases', `${TENANTS}`);
    for (const [service, port] of Object.entries(metricsPorts(stack.env))) {
      report.figure(
        `${service}: checkouts that waited past the budget's wait limit`,
        await metricSum(`http://127.0.0.1:${port}/metrics`, 'ttm_data_plane_acquire_timeouts_total'),
        'checkouts',
      );
    }
    subscription.unsubscribe();
    await nc.close();
    if (serverErrors > 0 || failed.length > 0) console.log('  TARGET MISSED: see the answers and failures above');
  } catch (error) {
    report.describe({ failed: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    report.describe({ loadavg_at_end: loadavg().map((l) => l.toFixed(1)) });
    for (const client of clients) await client.end().catch(() => undefined);
    await stack?.stop();
    server?.stop();
    report.describe({ disk_free_gib_at_end: diskFreeGib() });
    console.log(df());
    await report.save();
  }
}

/**
 * Four readers poll the provisioning status of registrations still pending, as a client
 * following its Location would, until every registration has an outcome.
 */
async function pollStatuses(
  gatewayUrl: string,
  registrations: Registration[],
  done: Promise<void>,
): Promise<{ latencies: number[]; errors: number }> {
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!finished) {
        const pending = registrations.filter((r) => r.provisioningId && r.activeAt === undefined && !r.failure);
        const r = pending[next++ % Math.max(1, pending.length)];
        if (!r?.provisioningId) {
          await sleep(100);
          continue;
        }
        const t0 = performance.now();
        const response = await fetch(`${gatewayUrl}/api/auth/provisioning-status/${r.provisioningId}`).catch(
          () => undefined,
        );
        await response?.text();
        latencies.push(performance.now() - t0);
        if (response?.status !== 200) errors++;
        await sleep(50);
      }
    }),
  );
  return { latencies, errors };
}

/** Reads every active tenant's status once after the burst; returns how many do not say `active`. */
async function statusesAfter(gatewayUrl: string, active: Registration[]): Promise<number> {
  let notActive = 0;
  for (const r of active) {
    const response = await fetch(`${gatewayUrl}/api/auth/provisioning-status/${r.provisioningId}`);
    const body = (await response.json()) as { status?: string };
    if (body.status !== 'active') notActive++;
  }
  return notActive;
}

function metricsPorts(env: Record<string, string>): Record<string, string | undefined> {
  return {
    gateway: env.PORT,
    provisioner: env.PROVISIONER_PORT,
    backup: env.BACKUP_PORT,
    metering: env.METERING_PORT,
  };
}

/** Each data-plane service's connection limit on the data-plane server, from its `/metrics`. */
async function serviceLimits(env: Record<string, string>): Promise<Record<string, number>> {
  const limits: Record<string, number> = {};
  for (const [service, port] of Object.entries(metricsPorts(env))) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('ttm_data_plane_connection_budget{'));
    if (line) limits[service] = Number(line.split(' ').at(-1));
  }
  return limits;
}

async function metricSum(url: string, name: string): Promise<number> {
  try {
    const text = await (await fetch(url)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  } catch {
    return Number.NaN;
  }
}

function diskFreeGib(): number {
  const s = statfsSync('/');
  return Number(((s.bavail * s.bsize) / 1024 ** 3).toFixed(1));
}

function df(): string {
  return execFileSync('df', ['-h', '/']).toString().trim();
}
