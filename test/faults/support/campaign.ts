import { randomBytes, randomUUID } from 'node:crypto';

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { encodeMessage, Subjects, UsageRecorded, usageEventId } from '@ttm/contracts';
import {
  bootstrapTopology,
  commonEnv,
  connectNats,
  createLogger,
  loadConfig,
  publishMessage,
  topologySettingsFrom,
} from '@ttm/service-kit';
import { freePort } from '@ttm/service-kit/testing';
import pg from 'pg';
import { ensureDatabase } from '../../../packages/service-kit/src/postgres.js';
import { expandInstances, type ServiceInstance } from '../../../scripts/stack/instances.js';
import { type Supervision, supervise } from '../../../scripts/stack/supervisor.js';
import { readiness, ttmServicesFromEnv } from '../../../scripts/stack/ttmServices.js';
import { childPids } from '../../support/processes.js';
import { NatsCluster, PrivatePostgres, PrivateRedis, until } from './backingProcesses.js';

/**
 * The fault campaign of issue 11: the whole control plane as `npm start` runs it (the supervisor,
 * two gateways sharing a port, two provisioners, one of each other service) on a 3-node NATS
 * cluster with every stream and bucket at replicas 3, a private Redis and a private PostgreSQL
 * cluster, under steady registrations, tenant API writes and usage. Each fault is injected, the
 * stack recovers by itself, and the load is paused to check what must hold:
 * - every acknowledged registration is exactly one ACTIVE workspace (none lost, none twice);
 * - every acknowledged tenant API write is exactly one row;
 * - every acknowledged usage message is counted once in the hour, day and month windows;
 * - readiness went red and came back green without help.
 * Shared by test/faults/campaign.test.ts and bench/faults.ts.
 */

export const FAULT_ADMIN_KEY = 'fault-admin-key-0123456789';
const PASSWORD = 'Fault-campaign password 42';
const SERVICES = ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks'] as const;
type ServiceName = (typeof SERVICES)[number];
/** Consumers' ack wait during the campaign, so a killed consumer's messages come back soon. */
const CAMPAIGN_ACK_WAIT_MS = 10_000;

type Kind = 'register' | 'write' | 'usage';
const KINDS: readonly Kind[] = ['register', 'write', 'usage'];

interface Attempt {
  kind: Kind;
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

/** What one fault cost: requests that failed (each retried until acknowledged) and time to recover. */
export interface FaultResult {
  fault: string;
  failedRequests: number;
  requests: number;
  /** From the fault until every instance was ready and every kind of load succeeded again. */
  recoverySeconds: number;
  /** Same, counted from the moment the dependency came back (Redis, PostgreSQL), else equal. */
  recoveryAfterRestoreSeconds: number;
  /** How readiness went red: an instance's /health/ready, or the NATS disconnect counter. */
  red: string;
}

export interface Fault {
  name: string;
  /** Break something; resolves when readiness was seen red and the broken part is restored. */
  inject(stack: FaultStack): Promise<Injected>;
}

interface Injected {
  /** How readiness was seen red. */
  red: string;
  restoredAt: number;
  /** Put back what the stack recovered without (the killed NATS node), after the measurement. */
  afterRecovery?: () => Promise<void>;
}

class Load {
  readonly attempts: Attempt[] = [];
  readonly registrations: string[] = [];
  readonly writes: string[] = [];
  usageTotal = 0;
  private running = new Set<Promise<void>>();
  private paused = true;
  private stopped = false;
  private wake: (() => void) | undefined;
  private seq = 0;

  constructor(private readonly stack: FaultStack) {}

  start(): void {
    for (const kind of KINDS) {
      const loop = this.loop(kind);
      this.running.add(loop);
    }
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  /** Stop starting operations and wait until the ones under way were acknowledged. */
  async pause(): Promise<void> {
    this.paused = true;
    await until('load paused', () => this.inFlight === 0, 300_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.paused = true;
    this.wake?.();
    await Promise.all(this.running);
  }

  private inFlight = 0;

  private async loop(kind: Kind): Promise<void> {
    const pauseMs = kind === 'register' ? 500 : 100;
    while (!this.stopped) {
      if (this.paused) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      this.inFlight++;
      try {
        await this.untilAcknowledged(kind);
      } finally {
        this.inFlight--;
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }

  /** One logical operation, retried with the same identity until it is acknowledged. */
  private async untilAcknowledged(kind: Kind): Promise<void> {
    const n = ++this.seq;
    const tag = `${n}-${randomBytes(3).toString('hex')}`;
    const key = randomUUID();
    const value = 1 + (n % 5);
    for (;;) {
      const startedAt = Date.now();
      let ok = false;
      try {
        if (kind === 'register') ok = await this.register(tag, key);
        else if (kind === 'write') ok = await this.write(tag, key);
        else ok = await this.publishUsage(key, value);
      } catch {
        ok = false;
      }
      this.attempts.push({ kind, startedAt, endedAt: Date.now(), ok });
      if (ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (kind === 'register') this.registrations.push(`Fault Org ${tag}`);
    else if (kind === 'write') this.writes.push(`fault-write-${tag}`);
    else this.usageTotal += value;
  }

  private async register(tag: string, key: string): Promise<boolean> {
    const response = await fetch(`${this.stack.url}/api/auth/register-organization`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({
        organization_name: `Fault Org ${tag}`,
        admin_email: `admin-${tag}@faults.test`,
        admin_password: PASSWORD,
        plan: 'pro',
      }),
      signal: AbortSignal.timeout(15_000),
    });
    await response.arrayBuffer();
    return response.status === 202;
  }

  private async write(tag: string, key: string): Promise<boolean> {
    const response = await fetch(`${this.stack.url}/api/tenant/objects/company`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${this.stack.worker.token}`,
        'idempotency-key': key,
      },
      body: JSON.stringify({ name: `fault-write-${tag}` }),
      signal: AbortSignal.timeout(15_000),
    });
    await response.arrayBuffer();
    return response.status === 201 || response.status === 200;
  }

  private async publishUsage(dedupKey: string, value: number): Promise<boolean> {
    const tenantId = this.stack.usageTenantId;
    const message = encodeMessage(
      UsageRecorded,
      { tenantId, meter: 'api_calls', kind: 'count', value, at: new Date().toISOString(), dedupKey },
      { source: '/faults', id: usageEventId(tenantId, 'api_calls', dedupKey) },
    );
    await publishMessage(jetstream(this.stack.nc, { timeout: 10_000 }), Subjects.usage(tenantId, 'api_calls'), message);
    return true;
  }
}

export interface FaultStack {
  cluster: NatsCluster;
  redis: PrivateRedis;
  postgres: PrivatePostgres;
  env: Record<string, string>;
  instances: ServiceInstance[];
  supervision: Supervision;
  nc: NatsConnection;
  url: string;
  worker: { tenantId: string; token: string };
  /** A tenant id the usage load counts for (metering counts usage of any tenant id). */
  usageTenantId: string;
  load: Load;
  /** Output of the services (their warnings and errors), for a failure message. */
  output: string[];
  /** Progress lines (the bench prints them; the test keeps them quiet unless FAULTS_VERBOSE). */
  say: (line: string) => void;
  stop(): Promise<void>;
}

/** Pids of this process's children running `services/<name>/src/main.ts` (Linux /proc). */
export function servicePids(name: ServiceName): number[] {
  return childPids(process.pid, `services/${name}/src/main.ts`);
}

async function allReady(instances: ServiceInstance[]): Promise<boolean> {
  const statuses = await Promise.all(instances.map((i) => readiness(i)));
  return statuses.every((s) => s === 200);
}

async function natsDisconnects(instances: ServiceInstance[]): Promise<number> {
  let total = 0;
  for (const instance of instances) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
      const match = /^ttm_nats_disconnects_total(?:\{[^}]*\})? (\d+)/m.exec(text);
      total += Number(match?.[1] ?? 0);
    } catch {
      // not answering now
    }
  }
  return total;
}

async function distinctPorts(count: number): Promise<number[]> {
  // Instance k of a service uses its port + 100 (k - 1): keep 100 free above each, all of them
  // below the ephemeral range (a client socket's local port could hold one there).
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort({ headroom: 200 });
    if (ports.every((p) => Math.abs(p - port) > 300)) ports.push(port);
  }
  return ports;
}

export async function startFaultStack(options: { say?: (line: string) => void } = {}): Promise<FaultStack> {
  const say =
    options.say ??
    (process.env.FAULTS_VERBOSE ? (line: string) => void process.stdout.write(`${line}\n`) : () => undefined);
  const cluster = await NatsCluster.start();
  const redis = await PrivateRedis.start();
  const postgres = await PrivatePostgres.start();
  say(`backing services: NATS cluster ${cluster.url}, Redis ${redis.url}, PostgreSQL :${postgres.port}`);
  const [gatewayPort, provisionerPort, meteringPort, quotaPort, backupPort, webhooksPort] = await distinctPorts(6);
  const env: Record<string, string> = {
    NATS_URL: cluster.url,
    NATS_STREAM_REPLICAS: '3',
    DATABASE_URL: postgres.url('ttm'),
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'ttm-faults:',
    LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'error',
    HOST: '127.0.0.1',
    PORT: String(gatewayPort),
    PROVISIONER_PORT: String(provisionerPort),
    METERING_PORT: String(meteringPort),
    QUOTA_PORT: String(quotaPort),
    BACKUP_PORT: String(backupPort),
    WEBHOOKS_PORT: String(webhooksPort),
    SUPER_ADMIN_KEY: FAULT_ADMIN_KEY,
    SHUTDOWN_TIMEOUT: '5s',
    // Every registration comes from 127.0.0.1: the per-address and total limits are tested on their own.
    REGISTRATION_MAX_PER_ADDRESS: '1000000',
    REGISTRATION_MAX_TOTAL: '1000000',
    WORKSPACE_WARM_POOL: '2',
    // No scheduled backups of every new tenant: the campaign's load is registrations, writes, usage.
    BACKUP_SCHEDULE_EVERY: '0',
    REGION: 'us-east-1',
    REGIONS: JSON.stringify([
      { name: 'us-east-1', clusters: [{ name: 'use1-a', url: postgres.url('ttm_use1'), capacity: 10_000 }] },
    ]),
  };
  const serviceEnv = { ...process.env, ...env };
  for (const name of Object.keys(serviceEnv)) if (name.startsWith('VITEST') || name === 'TEST') delete serviceEnv[name];

  await ensureDatabase(env.DATABASE_URL!);
  const logger = createLogger('faults', 'silent');
  const link = await connectNats(cluster.url, 'ttm-faults-bootstrap', logger);
  // The cluster's meta leader may still be electing: retry until the topology is in place.
  await until(
    'streams created at replicas 3',
    async () => {
      await bootstrapTopology(link.nc, topologySettingsFrom(loadConfig(commonEnv, env)), logger);
      return true;
    },
    120_000,
  );
  const jsm = await jetstreamManager(link.nc);
  for await (const stream of jsm.streams.list()) {
    for await (const consumer of jsm.consumers.list(stream.config.name)) {
      if (!consumer.config.durable_name) continue;
      await jsm.consumers.update(stream.config.name, consumer.config.durable_name, {
        ack_wait: nanos(CAMPAIGN_ACK_WAIT_MS),
      });
    }
  }
  await link.nc.close();

  const instances = expandInstances(
    ttmServicesFromEnv(env),
    new Map([
      ['gateway', 2],
      ['provisioner', 2],
    ]),
    env,
  );
  const output: string[] = [];
  const supervision = supervise(instances, serviceEnv, {
    say: (line) => {
      output.push(`[stack] ${line}`);
      say(`[stack] ${line}`);
    },
  });
  const nc = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const stack = {
    cluster,
    redis,
    postgres,
    env,
    instances,
    supervision,
    nc,
    url: `http://127.0.0.1:${gatewayPort}`,
    worker: { tenantId: '', token: '' },
    usageTenantId: randomUUID(),
    output,
    say,
    async stop() {
      await stack.load.stop().catch(() => undefined);
      await Promise.race([supervision.stop(), new Promise((r) => setTimeout(r, 30_000))]);
      supervision.kill();
      await nc.close().catch(() => undefined);
      await cluster.stop();
      await redis.stop();
      await postgres.stop();
    },
  } as FaultStack;
  stack.load = new Load(stack);
  try {
    await until('every service instance ready', () => allReady(instances), 240_000);
    stack.worker = await signUpWorker(stack);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  stack.load.start();
  return stack;
}

/** The tenant the API writes go to: registered, active, its admin logged in. */
async function signUpWorker(stack: FaultStack): Promise<{ tenantId: string; token: string }> {
  const email = `worker-${randomBytes(3).toString('hex')}@faults.test`;
  const registered = await fetch(`${stack.url}/api/auth/register-organization`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      organization_name: `Fault Worker ${email}`,
      admin_email: email,
      admin_password: PASSWORD,
      plan: 'pro',
    }),
  });
  if (registered.status !== 202)
    throw new Error(`worker registration: ${registered.status} ${await registered.text()}`);
  const { tenant_id: tenantId } = (await registered.json()) as { tenant_id: string };
  // Poll the admin view, not the login: failed logins count towards the login limiter.
  await until(
    'worker tenant active',
    async () => {
      const view = await fetch(`${stack.url}/api/admin/tenants/${tenantId}`, {
        headers: { 'x-admin-key': FAULT_ADMIN_KEY },
      });
      return view.status === 200 && ((await view.json()) as { status: string }).status === 'active';
    },
    120_000,
  );
  const login = await fetch(`${stack.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  if (login.status !== 200) throw new Error(`worker login: ${login.status} ${await login.text()}`);
  const token = ((await login.json()) as { access_token: string }).access_token;
  return { tenantId, token };
}

// ---------------------------------------------------------------- the faults

function instanceOf(stack: FaultStack, name: ServiceName, k = 1): ServiceInstance {
  const found = stack.instances.find((i) => i.name === name && i.instance === k);
  if (!found) throw new Error(`no instance ${k} of ${name}`);
  return found;
}

/** kill -9 of one instance of a service; the supervisor starts it again. */
export function killService(name: ServiceName): Fault {
  return {
    name: `kill -9 ${name}`,
    async inject(stack) {
      const instance = instanceOf(stack, name);
      const pids = servicePids(name);
      if (pids.length === 0) throw new Error(`no ${name} process running`);
      // With two instances, the one whose health port is instance 1's: any one will do.
      process.kill(pids[0]!, 'SIGKILL');
      await until(`${instance.label} not ready after kill -9`, async () => (await readiness(instance)) !== 200, 30_000);
      return { red: `${instance.label} /health/ready stopped answering 200`, restoredAt: Date.now() };
    },
  };
}

/** kill -9 of the NATS node holding most service connections; restarted once the stack recovered. */
export const killNatsNode: Fault = {
  name: 'kill -9 one NATS node',
  async inject(stack) {
    const connections = await stack.cluster.serviceConnections();
    const node = connections.indexOf(Math.max(...connections));
    const before = await natsDisconnects(stack.instances);
    await stack.cluster.kill(node);
    // The clients on it reconnect to another node within ~0.5 s: too short to catch by polling
    // /health/ready, so the disconnect counter (readiness false until reconnected) shows it.
    await until(
      'services saw their NATS connection drop',
      async () => (await natsDisconnects(stack.instances)) >= before + (connections[node] ?? 0),
      60_000,
    );
    return {
      red: `${connections[node]} service connections on ${stack.cluster.nodes[node]!.name} lost (ttm_nats_disconnects_total)`,
      restoredAt: Date.now(),
      afterRecovery: () => stack.cluster.restart(node),
    };
  },
};

/** Redis killed for 10 s (at least until every gateway reported not ready), then started empty. */
export const stopRedis: Fault = {
  name: 'Redis down 10 s',
  async inject(stack) {
    const killedAt = Date.now();
    await stack.redis.kill();
    const gateways = stack.instances.filter((i) => i.name === 'gateway');
    await until(
      'every gateway not ready without Redis',
      async () => (await Promise.all(gateways.map((g) => readiness(g)))).every((s) => s !== 200),
      60_000,
    );
    const rest = killedAt + 10_000 - Date.now();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    await stack.redis.restart();
    return { red: 'every gateway /health/ready 503 (redis down)', restoredAt: Date.now() };
  },
};

/** PostgreSQL stopped at once (`pg_ctl -m immediate`, crash recovery at start) and started again. */
export const restartPostgres: Fault = {
  name: 'PostgreSQL restart (immediate)',
  async inject(stack) {
    await stack.postgres.crash();
    const provisioner = instanceOf(stack, 'provisioner');
    await until('provisioner not ready without PostgreSQL', async () => (await readiness(provisioner)) !== 200, 60_000);
    await stack.postgres.restart();
    return { red: 'provisioner /health/ready 503 (postgres down)', restoredAt: Date.now() };
  },
};

export const campaign: Fault[] = [
  killNatsNode,
  ...SERVICES.map((name) => killService(name)),
  stopRedis,
  restartPostgres,
];

/**
 * Inject one fault under load, wait for recovery (every instance ready, every kind of load
 * succeeding again), then pause the load and check the invariants. Throws on a broken invariant.
 */
export async function runFault(stack: FaultStack, fault: Fault): Promise<FaultResult> {
  stack.load.resume();
  // Steady state first: every kind of load succeeded since the last check.
  const warm = Date.now();
  await until(
    'load running',
    () => KINDS.every((k) => stack.load.attempts.some((a) => a.kind === k && a.ok && a.startedAt >= warm)),
    120_000,
  );
  const injectedAt = Date.now();
  const since = () => `${((Date.now() - injectedAt) / 1000).toFixed(1)} s`;
  stack.say(`${fault.name}: injecting`);
  const injected = await fault.inject(stack);
  stack.say(`${fault.name}: readiness red (${injected.red}), restored after ${since()}`);
  await until('every instance ready again', () => allReady(stack.instances), 180_000);
  const readyAt = Date.now();
  stack.say(`${fault.name}: every instance ready after ${since()}`);
  let recoveredAt = readyAt;
  await until(
    'every kind of load succeeds again',
    () =>
      KINDS.every((kind) => {
        const first = stack.load.attempts.find((a) => a.kind === kind && a.ok && a.startedAt >= readyAt);
        if (first) recoveredAt = Math.max(recoveredAt, first.endedAt);
        return first !== undefined;
      }),
    180_000,
  );
  // Requests that failed because of this fault: from the injection to the recovery.
  const window = stack.load.attempts.filter((a) => a.startedAt >= injectedAt - 1_000 && a.startedAt <= recoveredAt);
  const result: FaultResult = {
    fault: fault.name,
    failedRequests: window.filter((a) => !a.ok).length,
    requests: window.length,
    recoverySeconds: (recoveredAt - injectedAt) / 1000,
    recoveryAfterRestoreSeconds: (recoveredAt - injected.restoredAt) / 1000,
    red: injected.red,
  };
  stack.say(
    `${fault.name}: load recovered after ${since()}; ${result.failedRequests} of ${result.requests} requests failed`,
  );
  await stack.load.pause();
  await injected.afterRecovery?.();
  stack.say(`${fault.name}: load paused after ${since()}, checking`);
  await checkInvariants(stack);
  stack.say(
    `${fault.name}: checked after ${since()}: ${stack.load.registrations.length} registrations, ${stack.load.writes.length} writes, usage ${stack.load.usageTotal}`,
  );
  return result;
}

// ---------------------------------------------------------------- what must hold

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Counts per name, for the names that are not exactly once. */
function notExactlyOnce(expected: string[], rows: { name: string; n: number }[]): string[] {
  const counts = new Map(rows.map((r) => [r.name, r.n]));
  const wrong = expected.filter((name) => counts.get(name) !== 1).map((name) => `${name}: ${counts.get(name) ?? 0}`);
  const unknown = rows.filter((r) => !expected.includes(r.name)).map((r) => `${r.name}: ${r.n} (never acknowledged)`);
  return [...wrong, ...unknown];
}

/**
 * Wait (up to a few minutes: redelivery after a crash takes an ack wait) until the data matches
 * what was acknowledged; throw with the difference when it never does.
 */
export async function checkInvariants(stack: FaultStack): Promise<void> {
  const { load, postgres } = stack;
  const cluster = postgres.url('ttm_use1');
  let problems: string[] = [];
  const settled = async () => {
    problems = [];
    const workspaces = await query<{ name: string; n: number; active: number }>(
      cluster,
      `SELECT "displayName" AS name, count(*)::int AS n, count(*) FILTER (WHERE "activationStatus" = 'ACTIVE')::int AS active
         FROM core.workspace WHERE "displayName" LIKE 'Fault Org %' GROUP BY 1`,
    );
    for (const p of notExactlyOnce(load.registrations, workspaces)) problems.push(`workspace ${p}`);
    for (const w of workspaces) if (w.active !== w.n) problems.push(`workspace ${w.name}: not active yet`);

    const [schema] = await query<{ schema: string }>(
      cluster,
      'SELECT "databaseSchema" AS schema FROM core.workspace WHERE id = $1',
      [stack.worker.tenantId],
    );
    if (!schema) throw new Error('the worker tenant has no workspace');
    const companies = await query<{ name: string; n: number }>(
      cluster,
      `SELECT name, count(*)::int AS n FROM ${pg.escapeIdentifier(schema.schema)}.company
        WHERE name LIKE 'fault-write-%' AND "deletedAt" IS NULL GROUP BY 1`,
    );
    for (const p of notExactlyOnce(load.writes, companies)) problems.push(`company ${p}`);

    const windows = await query<{ granularity: string; total: string }>(
      postgres.url('ttm'),
      `SELECT granularity, sum(value)::text AS total FROM metering.usage_windows
        WHERE tenant_id = $1 AND meter = 'api_calls' GROUP BY 1`,
      [stack.usageTenantId],
    );
    for (const granularity of ['hour', 'day', 'month']) {
      const total = Number(windows.find((w) => w.granularity === granularity)?.total ?? 0);
      if (total !== load.usageTotal)
        problems.push(`usage ${granularity} windows: ${total}, acknowledged ${load.usageTotal}`);
    }
    return problems.length === 0;
  };
  try {
    await until('acknowledged work all there exactly once', settled, 240_000);
  } catch {
    throw new Error(
      `after the fault: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? ` (+${problems.length - 20})` : ''}`,
    );
  }
  if (!(await allReady(stack.instances))) throw new Error('not every instance is ready after the check');
}
