/**
 * The cost of the tenant request path: a bare route of the gateway (`GET /`, no authentication)
 * against a tenant route behind the whole path (bearer JWT check, tenant directory lookup, rate
 * limit in Redis, quota check, api_calls metering), both served by the same gateway process and
 * measured with autocannon in alternating rounds, so machine drift hits both alike.
 *
 * The gateway runs as its own process (this file, started with BENCH_GATEWAY_CHILD=1, adds one
 * trivial route to the tenant scope); autocannon runs here; nats-server, PostgreSQL, Redis and
 * the provisioner share the machine. The bench tenant's plan allows far more than the run sends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { freePort } from '@ttm/service-kit/testing';
import type { FastifyPluginAsync } from 'fastify';
import { until, waitReady } from './lib/polling.js';
import { startProcessStack } from './lib/processStack.js';
import { BenchReport } from './lib/report.js';

const ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_GATEWAY_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_GATEWAY_CONNECTIONS ?? 10);
const PROBE = '/api/tenant/bench/probe';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  headers?: Record<string, string>;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const PLANS = [
  {
    name: 'pro',
    quotas: { storage_bytes: 20_000_000_000, users: 50, api_calls_per_month: 1_000_000_000 },
    // Far above what one run sends: the bench measures the limiter's cost, not its refusals.
    rateLimit: { requests: 1_000_000_000, windowMs: 60_000 },
  },
];

/** In the child: the gateway with one trivial route in the tenant scope. */
async function serveGateway(): Promise<void> {
  const { startGateway } = await import('@ttm/gateway');
  const probe: FastifyPluginAsync = async (app) => {
    app.get(PROBE, async () => ({ ok: true }));
  };
  await startGateway(process.env, { extraTenantRoutes: probe });
}

if (process.env.BENCH_GATEWAY_CHILD === '1') await serveGateway();

export async function run(): Promise<void> {
  const report = new BenchReport('gateway');
  const port = await freePort();
  const stack = await startProcessStack(['provisioner'], {
    PLANS: JSON.stringify(PLANS),
    LOG_LEVEL: 'warn',
    PORT: String(port),
  });
  const url = `http://127.0.0.1:${port}`;
  let gateway: ChildProcess | undefined;
  try {
    const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    gateway = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, ...stack.env, BENCH_GATEWAY_CHILD: '1' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitReady(`${url}/health/ready`, 60_000);
    const token = await benchTenantToken(url);

    const full = await autocannon({ url: `${url}${PROBE}`, connections: 1, duration: 1, headers: auth(token) });
    if (full.non2xx > 0 || full.errors > 0)
      throw new Error(`the tenant route does not answer 200 (${full.non2xx} non-2xx)`);
    report.describe({
      rounds: ROUNDS,
      seconds_per_round: SECONDS,
      connections: CONNECTIONS,
      bare: 'GET / (same gateway, no tenant path)',
      full: `GET ${PROBE} (JWT ES256 verified once then remembered, directory, GCRA in Redis, quota, metering)`,
      services: 'gateway and provisioner as processes; autocannon, nats-server, PostgreSQL and Redis share the machine',
    });

    // Warm both paths (JIT, connections, Redis script cache).
    await autocannon({ url: `${url}/`, connections: CONNECTIONS, duration: 2 });
    await autocannon({ url: `${url}${PROBE}`, connections: CONNECTIONS, duration: 2, headers: auth(token) });

    const bare: AutocannonResult[] = [];
    const tenant: AutocannonResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      bare.push(await autocannon({ url: `${url}/`, connections: CONNECTIONS, duration: SECONDS }));
      tenant.push(
        await autocannon({ url: `${url}${PROBE}`, connections: CONNECTIONS, duration: SECONDS, headers: auth(token) }),
      );
    }
    const failures = tenant.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
    if (failures > 0) throw new Error(`${failures} tenant requests did not answer 2xx (limited or failing)`);

    const mean = (results: AutocannonResult[], pick: (r: AutocannonResult) => number) =>
      results.reduce((sum, r) => sum + pick(r), 0) / results.length;
    const bareRps = mean(bare, (r) => r.requests.average);
    const fullRps = mean(tenant, (r) => r.requests.average);
    report.figure('bare rps', bareRps, 'req/s');
    report.figure('bare p99', Math.max(...bare.map((r) => r.latency.p99)), 'ms');
    report.figure('full path rps', fullRps, 'req/s');
    report.figure('full path p99', Math.max(...tenant.map((r) => r.latency.p99)), 'ms', '< 5 ms');
    report.figure('full path / bare rps', (100 * fullRps) / bareRps, '%', '>= 50 %');
    await report.save();
  } finally {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((resolve) => gateway!.once('exit', resolve));
      gateway.kill('SIGTERM');
      await exited;
    }
    await stack.stop();
  }
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** Register the bench organization, wait for it to be active, log its admin in. */
async function benchTenantToken(url: string): Promise<string> {
  const email = 'bench@gateway.bench';
  const password = 'correct-Horse-battery-9';
  const registered = await fetch(`${url}/api/auth/register-organization`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      organization_name: 'Gateway Bench',
      admin_email: email,
      admin_password: password,
      plan: 'pro',
    }),
  });
  if (registered.status !== 202) throw new Error(`registration answered ${registered.status}`);
  const location = registered.headers.get('location')!;
  await until(
    async () => {
      const status = (await (await fetch(`${url}${location}`)).json()) as { status?: string };
      if (status.status === 'failed') throw new Error('bench tenant provisioning failed');
      return status.status === 'active';
    },
    60_000,
    100,
  );
  const login = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (login.status !== 200) throw new Error(`login answered ${login.status}`);
  return ((await login.json()) as { access_token: string }).access_token;
}
