/**
 * Register -> active through the real path: HTTP POST to the gateway (validation, argon2id,
 * command publish), the provisioner's saga on the data plane, events back. Keeps 50
 * registrations in flight (closed loop) and times each from request to the
 * `provisioned` event; throughput is completed tenants per second over the run.
 */
import { connect } from '@nats-io/transport-node';
import { CloudEventHeaders, SubjectFilters, TenantProvisioned } from '@ttm/contracts';
import pg from 'pg';
import { cpuSecondsOf, cpuSecondsOfCommand } from './lib/cpu.js';
import { startProcessStack } from './lib/processStack.js';
import { BenchReport, quantile } from './lib/report.js';

const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 50);
const TOTAL = Number(process.env.BENCH_TENANTS ?? 600);
const BURSTS = Number(process.env.BENCH_BURSTS ?? 6);
const WARMUP = 50;
/**
 * The whole stack by default, as `npm start` runs it: every service reacts to new tenants (quota
 * state, metering, the backup scheduler, webhooks). BENCH_SERVICES=gateway,provisioner for the
 * registration path alone.
 */
const SERVICES = (process.env.BENCH_SERVICES ?? 'gateway,provisioner,metering,quota,backup,webhooks').split(',');
const WARM_POOL = 64;

/** Wait until every cluster database holds `size` warm workspace schemas. */
async function warmPoolsFull(env: Record<string, string>, size: number): Promise<void> {
  const regions = JSON.parse(env.REGIONS!) as { clusters: { url: string }[] }[];
  for (const url of regions.flatMap((r) => r.clusters.map((c) => c.url))) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (;;) {
        const { rows } = await client
          .query<{ n: number }>('SELECT count(*)::int AS n FROM ttm_internal.warm_schemas')
          .catch(() => ({ rows: [{ n: 0 }] }));
        if ((rows[0]?.n ?? 0) >= size) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await client.end();
    }
  }
}

export async function run(): Promise<void> {
  const report = new BenchReport('provisioning');
  report.describe({
    burst: `${BURSTS} bursts of ${IN_FLIGHT} registrations at once, warm pool refilled in between`,
    sustained: `${TOTAL} registrations, ${IN_FLIGHT} in flight (closed loop), warm pool drained`,
    warm_pool: WARM_POOL,
    services: `${SERVICES.join(', ')} as processes (BENCH_SERVICES)`,
  });
  const stack = await startProcessStack(SERVICES, { WORKSPACE_WARM_POOL: String(WARM_POOL) });
  const nc = await connect({ servers: stack.nats.url });
  const waiting = new Map<string, () => void>();
  const subscription = nc.subscribe(SubjectFilters.tenantEvents, {
    callback: (_err, msg) => {
      if (msg.headers?.get(CloudEventHeaders.type) !== TenantProvisioned.type) return;
      const tenantId = msg.subject.slice('evt.tenant.'.length);
      waiting.get(tenantId)?.();
    },
  });

  // CPU per tenant of each part (PostgreSQL: every backend on the machine, so other load counts too).
  const cpuSnapshot = (): Record<string, number> => ({
    ...Object.fromEntries(SERVICES.map((service) => [service, cpuSecondsOf(stack.pids[service]!)])),
    'nats-server': cpuSecondsOf(stack.nats.pid ?? 0),
    postgres: cpuSecondsOfCommand('postgres'),
  });

  const register = async (i: number): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${stack.gatewayUrl}/api/auth/register-organization`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        organization_name: `Bench Org ${i}`,
        admin_email: `admin${i}@bench.test`,
        admin_password: `Correct-Horse-${i}-Battery`,
        plan: i % 10 === 0 ? 'free' : 'pro',
        region: i % 2 === 0 ? 'us-east-1' : 'eu-west-1',
      }),
    });
    if (response.status !== 202) throw new Error(`register answered ${response.status}: ${await response.text()}`);
    const { tenant_id: tenantId } = (await response.json()) as { tenant_id: string };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tenant ${tenantId} not active after 30 s`)), 30_000);
      waiting.set(tenantId, () => {
        clearTimeout(timer);
        waiting.delete(tenantId);
        resolve();
      });
    });
    return performance.now() - started;
  };

  const closedLoop = async (count: number, offset: number) => {
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < count) {
          const i = next++;
          latencies.push(await register(offset + i));
        }
      }),
    );
    return { latencies, seconds: (performance.now() - started) / 1000 };
  };

  try {
    await closedLoop(WARMUP, 0);
    let offset = WARMUP;
    const burstLatencies: number[] = [];
    for (let b = 0; b < BURSTS; b++) {
      await warmPoolsFull(stack.env, WARM_POOL);
      burstLatencies.push(...(await Promise.all(Array.from({ length: IN_FLIGHT }, () => register(offset++)))));
    }
    report.figure(`burst of ${IN_FLIGHT}: register->active p50`, quantile(burstLatencies, 0.5), 'ms');
    report.figure(`burst of ${IN_FLIGHT}: register->active p95`, quantile(burstLatencies, 0.95), 'ms', '< 1000 ms');
    report.figure(`burst of ${IN_FLIGHT}: register->active p99`, quantile(burstLatencies, 0.99), 'ms');

    const cpuBefore = cpuSnapshot();
    const { latencies, seconds } = await closedLoop(TOTAL, offset);
    const cpuAfter = cpuSnapshot();
    report.figure('sustained: register->active p50', quantile(latencies, 0.5), 'ms');
    report.figure('sustained: register->active p95', quantile(latencies, 0.95), 'ms');
    report.figure('sustained throughput', TOTAL / seconds, 'tenants/s', '>= 20 tenants/s');
    for (const [part, before] of Object.entries(cpuBefore)) {
      report.figure(`cpu per tenant: ${part}`, ((cpuAfter[part]! - before) / TOTAL) * 1000, 'ms');
    }
  } finally {
    subscription.unsubscribe();
    await nc.close();
    await stack.stop();
  }
  await report.save();
}
