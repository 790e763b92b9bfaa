/**
 * Projection throughput: the provisioning history of T tenants (6 events each: registered,
 * four steps, provisioned) in a private JetStream, applied by the gateway's tenant projection
 * (two statements per event) into a fresh database:
 * - `one in flight`: the runner with a window of 1 (what every projection did before batching),
 *   for BENCH_PROJECTION_BASELINE_S seconds;
 * - `replay`: `replayProjection` of the whole history, timed, run BENCH_PROJECTION_RUNS times.
 * CPU per 1,000 events for this process (the runner), the database's backends and nats-server.
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  encodeMessage,
  ProvisioningStepCompleted,
  Streams,
  Subjects,
  streamDefinitions,
  TenantProvisioned,
  TenantRegistered,
} from '@ttm/contracts';
import { GATEWAY_SCHEMA, tenantsProjection } from '@ttm/gateway';
import {
  createLogger,
  migrate,
  type ProjectionDefinition,
  publishMessage,
  replayProjection,
  runProjection,
  streamConfigFor,
} from '@ttm/service-kit';
import { createTestDatabase, PrivateNatsServer } from '@ttm/service-kit/testing';
import pg from 'pg';
import { cpuSecondsOf } from './lib/cpu.js';
import { BenchReport } from './lib/report.js';

const TENANTS = Number(process.env.BENCH_PROJECTION_TENANTS ?? 10_000);
const RUNS = Number(process.env.BENCH_PROJECTION_RUNS ?? 2);
const BASELINE_S = Number(process.env.BENCH_PROJECTION_BASELINE_S ?? 15);
const EVENTS_PER_TENANT = 6;

export async function run(): Promise<void> {
  const report = new BenchReport('projections');
  const logger = createLogger('bench-projections', 'warn');
  const nats = await PrivateNatsServer.start();
  const db = await createTestDatabase('ttm_bench_projections');
  const nc = await connect({ servers: nats.url });
  // Idle connections stay open, so the CPU of every backend this run used can be read at the end.
  const pool = new pg.Pool({ connectionString: db.url, max: 4, idleTimeoutMillis: 0 });
  try {
    const jsm = await jetstreamManager(nc);
    for (const def of streamDefinitions.filter((d) => d.name === Streams.EVENTS || d.name === Streams.DEADLETTER)) {
      await jsm.streams.add({
        ...streamConfigFor(def, { replicas: 1, usageMaxAgeMs: 3_600_000, deadLetterMaxAgeMs: 3_600_000, maxBytes: -1 }),
        name: def.name,
      });
    }
    await migrate(pool, GATEWAY_SCHEMA, new URL('../services/gateway/migrations', import.meta.url).pathname, logger);
    report.describe({
      tenants: TENANTS,
      events: TENANTS * EVENTS_PER_TENANT,
      projection: tenantsProjection.name,
      window: tenantsProjection.consumer.maxAckPending,
      runs: RUNS,
      load_average: loadAverage(),
    });

    const published = Date.now();
    await publishHistory(nc, TENANTS);
    console.log(`bench projections: published ${TENANTS * EVENTS_PER_TENANT} events in ${Date.now() - published} ms`);

    const meter = () => cpuMeter(pool, nats.pid);

    // Before batching: one event in flight.
    const single: ProjectionDefinition = {
      ...tenantsProjection,
      name: 'bench-one-in-flight',
      consumer: { ...tenantsProjection.consumer, durable: 'bench-one-in-flight', maxAckPending: 1 },
    };
    {
      const cpu = await meter();
      const controller = new AbortController();
      let applied = 0;
      const started = performance.now();
      const running = runProjection({
        js: jetstream(nc),
        pool,
        projection: single,
        logger,
        signal: controller.signal,
        onApplied: () => {
          applied++;
        },
      });
      await new Promise((resolve) => setTimeout(resolve, BASELINE_S * 1_000));
      controller.abort();
      await running;
      const seconds = (performance.now() - started) / 1_000;
      report.figure('one in flight: events/s', applied / seconds, 'events/s');
      await printCpu(report, 'one in flight', await cpu(), applied);
    }

    for (let i = 1; i <= RUNS; i++) {
      const cpu = await meter();
      const started = performance.now();
      const { applied } = await replayProjection({ nc, pool, projection: tenantsProjection, logger });
      const seconds = (performance.now() - started) / 1_000;
      report.figure(`replay ${i}: seconds for ${TENANTS} tenants`, seconds, 's', 'well under 60 s');
      report.figure(`replay ${i}: events/s`, applied / seconds, 'events/s', '>= 5000');
      await printCpu(report, `replay ${i}`, await cpu(), applied);
    }
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${GATEWAY_SCHEMA}.tenants WHERE status = 'active'`,
    );
    if (rows[0]?.n !== TENANTS) throw new Error(`expected ${TENANTS} active tenants after replay, found ${rows[0]?.n}`);
    report.describe({ load_average_after: loadAverage() });
    await report.save();
  } finally {
    await pool.end();
    await nc.close();
    await db.drop();
    await nats.stop();
  }
}

async function publishHistory(nc: Awaited<ReturnType<typeof connect>>, tenants: number): Promise<void> {
  const js = jetstream(nc);
  const placement = {
    region: 'eu-west',
    cluster: 'eu-west-1',
    kind: 'schema',
    database: 'twenty_eu_west_1_a',
    schema: 'workspace_bench',
  } as const;
  const chunk = 500;
  for (let start = 0; start < tenants; start += chunk) {
    const histories = Array.from({ length: Math.min(chunk, tenants - start) }, () => {
      const tenantId = randomUUID();
      const provisioningId = randomUUID();
      const at = new Date().toISOString();
      const slug = `t-${tenantId.slice(0, 8)}`;
      const meta = { source: '/ttm/bench', subject: tenantId };
      return [
        encodeMessage(
          TenantRegistered,
          {
            tenantId,
            provisioningId,
            organizationName: `Bench ${slug}`,
            adminEmail: `admin@${slug}.example`,
            plan: 'pro',
            region: 'eu-west',
            registeredAt: at,
          },
          meta,
        ),
        ...(['reserve-slug', 'place', 'create-workspace', 'apply-quotas'] as const).map((step, i) =>
          encodeMessage(
            ProvisioningStepCompleted,
            { tenantId, provisioningId, step, progress: 20 * (i + 1), slug, placement, completedAt: at },
            meta,
          ),
        ),
        encodeMessage(
          TenantProvisioned,
          { tenantId, provisioningId, slug, placement, durationMs: 1_000, provisionedAt: at },
          meta,
        ),
      ].map((message) => ({ tenantId, message }));
    });
    // One tenant's events in order; tenants side by side.
    await Promise.all(
      histories.map(async (events) => {
        for (const { tenantId, message } of events) {
          await publishMessage(js, Subjects.event('tenant', tenantId), message);
        }
      }),
    );
  }
}

/** CPU seconds used from now on by this process, the database's backends and nats-server. */
async function cpuMeter(pool: pg.Pool, natsPid: number | undefined) {
  const backends = async () => {
    const { rows } = await pool.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
    );
    return new Map(rows.map((r) => [r.pid, cpuSecondsOf(r.pid)]));
  };
  const self = process.cpuUsage();
  const pgBefore = await backends();
  const natsBefore = natsPid ? cpuSecondsOf(natsPid) : 0;
  return async () => {
    const used = process.cpuUsage(self);
    const pgAfter = await backends();
    let postgres = 0;
    for (const [pid, seconds] of pgAfter) postgres += seconds - (pgBefore.get(pid) ?? 0);
    return {
      runner: (used.user + used.system) / 1e6,
      postgres,
      natsServer: (natsPid ? cpuSecondsOf(natsPid) : 0) - natsBefore,
    };
  };
}

async function printCpu(
  report: BenchReport,
  label: string,
  cpu: { runner: number; postgres: number; natsServer: number },
  events: number,
): Promise<void> {
  const per1000 = (seconds: number) => (events > 0 ? (seconds * 1_000_000) / events : Number.NaN);
  report.figure(`${label}: runner CPU per 1,000 events`, per1000(cpu.runner), 'ms');
  report.figure(`${label}: PostgreSQL CPU per 1,000 events`, per1000(cpu.postgres), 'ms');
  report.figure(`${label}: nats-server CPU per 1,000 events`, per1000(cpu.natsServer), 'ms');
}

function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
}
