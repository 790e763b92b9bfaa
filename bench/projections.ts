/**
 * Projection throughput: the provisioning history of T tenants (6 events each: registered,
 * four steps, provisioned) in a private JetStream, replayed through every service's projection
 * that reads it (or those named in BENCH_PROJECTIONS, comma-separated) into a fresh database:
 * - gateway: the tenant list and operations (two statements per event type and batch);
 * - metering, backup: their tenants tables;
 * - provisioner (placements), webhooks (events fan-out): they act on none of these events
 *   (placement moves, deliverable notices), so this measures how fast they pass them by;
 * - quota (settlement) reads BILLING, not EVENTS: T tenants' closed windows instead, 6 each
 *   (three meters, a day and a month), one settled per tenant.
 * For each: `replayProjection` of the whole history, timed, BENCH_PROJECTION_RUNS times; and for
 * the gateway, first, the runner with a window of 1 (what every projection did before batching)
 * for BENCH_PROJECTION_BASELINE_S seconds (0: skipped). CPU per 1,000 events for this process
 * (the runner), the database's backends and nats-server.
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { BACKUP_SCHEMA, backupTenantsProjection } from '@ttm/backup';
import {
  encodeMessage,
  ProvisioningStepCompleted,
  Streams,
  Subjects,
  streamDefinitions,
  TenantProvisioned,
  TenantRegistered,
  WindowClosed,
} from '@ttm/contracts';
import { GATEWAY_SCHEMA, tenantsProjection } from '@ttm/gateway';
import { METERING_SCHEMA, meteringTenantsProjection } from '@ttm/metering';
import { placementsProjection } from '@ttm/provisioner';
import { QUOTA_SCHEMA, QuotaBook, settlementProjection } from '@ttm/quota';
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
import { eventsFanOut, WEBHOOKS_SCHEMA } from '@ttm/webhooks';
import pg from 'pg';
import { cpuSecondsOf } from './lib/cpu.js';
import { BenchReport } from './lib/report.js';

const TENANTS = Number(process.env.BENCH_PROJECTION_TENANTS ?? 10_000);
const RUNS = Number(process.env.BENCH_PROJECTION_RUNS ?? 2);
const BASELINE_S = Number(process.env.BENCH_PROJECTION_BASELINE_S ?? 15);
const EVENTS_PER_TENANT = 6;
const CLOSED_WINDOWS_PER_TENANT = 6;

/** One service's projection under test: where its tables live, and what a full replay must leave. */
interface Subject {
  service: string;
  schema: string;
  projection: ProjectionDefinition;
  /** The history it reads: the tenants' provisioning (EVENTS) or their closed windows (BILLING). */
  history: 'tenants' | 'billing';
  /** Rows a full replay leaves: a query answering `n`, and how many. */
  check?: { sql: string; expected: number };
}

// Neither placements (the saga's rows, only moved) nor webhook deliveries (already sent) are
// emptied for a rebuild, so their services never replay them; the bench replays them with no reset.
const keepRows = async () => {};

const subjects: Subject[] = [
  {
    service: 'gateway',
    schema: GATEWAY_SCHEMA,
    projection: tenantsProjection,
    history: 'tenants',
    check: {
      sql: `SELECT count(*)::int AS n FROM ${GATEWAY_SCHEMA}.tenants WHERE status = 'active'`,
      expected: TENANTS,
    },
  },
  {
    service: 'metering',
    schema: METERING_SCHEMA,
    projection: meteringTenantsProjection,
    history: 'tenants',
    check: {
      sql: `SELECT count(*)::int AS n FROM ${METERING_SCHEMA}.tenants WHERE status = 'active'`,
      expected: TENANTS,
    },
  },
  {
    service: 'backup',
    schema: BACKUP_SCHEMA,
    projection: backupTenantsProjection,
    history: 'tenants',
    check: {
      sql: `SELECT count(*)::int AS n FROM ${BACKUP_SCHEMA}.tenants WHERE status = 'active'`,
      expected: TENANTS,
    },
  },
  {
    service: 'provisioner',
    schema: 'provisioner',
    projection: { ...placementsProjection, reset: keepRows },
    history: 'tenants',
  },
  {
    service: 'webhooks',
    schema: WEBHOOKS_SCHEMA,
    projection: { ...eventsFanOut, reset: keepRows },
    history: 'tenants',
  },
  {
    service: 'quota',
    schema: QUOTA_SCHEMA,
    projection: settlementProjection(new QuotaBook()),
    history: 'billing',
    check: { sql: `SELECT count(*)::int AS n FROM ${QUOTA_SCHEMA}.settled_periods`, expected: TENANTS },
  },
];

export async function run(): Promise<void> {
  const report = new BenchReport('projections');
  const logger = createLogger('bench-projections', 'warn');
  const picked = process.env.BENCH_PROJECTIONS?.split(',').map((name) => name.trim());
  const selected = subjects.filter((subject) => !picked || picked.includes(subject.service));
  if (selected.length === 0) {
    throw new Error(`BENCH_PROJECTIONS names none of: ${subjects.map((subject) => subject.service).join(', ')}`);
  }
  const nats = await PrivateNatsServer.start();
  const db = await createTestDatabase('ttm_bench_projections');
  const nc = await connect({ servers: nats.url });
  // Idle connections stay open, so the CPU of every backend this run used can be read at the end.
  const pool = new pg.Pool({ connectionString: db.url, max: 4, idleTimeoutMillis: 0 });
  try {
    const jsm = await jetstreamManager(nc);
    const streams: string[] = [Streams.EVENTS, Streams.BILLING, Streams.DEADLETTER];
    for (const def of streamDefinitions.filter((d) => streams.includes(d.name))) {
      await jsm.streams.add({
        ...streamConfigFor(def, { replicas: 1, usageMaxAgeMs: 3_600_000, deadLetterMaxAgeMs: 3_600_000, maxBytes: -1 }),
        name: def.name,
      });
    }
    for (const { service, schema } of selected) {
      await migrate(pool, schema, new URL(`../services/${service}/migrations`, import.meta.url).pathname, logger);
    }
    report.describe({
      tenants: TENANTS,
      events: TENANTS * EVENTS_PER_TENANT,
      closed_windows: TENANTS * CLOSED_WINDOWS_PER_TENANT,
      projections: selected.map((subject) => subject.projection.name),
      runs: RUNS,
      load_average: loadAverage(),
    });

    const published = Date.now();
    if (selected.some((subject) => subject.history === 'tenants')) await publishHistory(nc, TENANTS);
    if (selected.some((subject) => subject.history === 'billing')) await publishClosedWindows(nc, TENANTS);
    console.log(`bench projections: published the histories in ${Date.now() - published} ms`);

    const meter = () => cpuMeter(pool, nats.pid);

    // Before batching: one event in flight.
    if (BASELINE_S > 0 && selected.some((subject) => subject.projection === tenantsProjection)) {
      const single: ProjectionDefinition = {
        ...tenantsProjection,
        name: 'bench-one-in-flight',
        consumer: { ...tenantsProjection.consumer, durable: 'bench-one-in-flight', maxAckPending: 1 },
      };
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
      report.figure('gateway one in flight: events/s', applied / seconds, 'events/s');
      await printCpu(report, 'gateway one in flight', await cpu(), applied);
    }

    for (const { service, projection, history, check } of selected) {
      // Every event of its history passes through it, applied or passed by.
      const events = TENANTS * (history === 'tenants' ? EVENTS_PER_TENANT : CLOSED_WINDOWS_PER_TENANT);
      for (let i = 1; i <= RUNS; i++) {
        const cpu = await meter();
        const load = loadAverage();
        const started = performance.now();
        const { applied } = await replayProjection({ nc, pool, projection, logger });
        const seconds = (performance.now() - started) / 1_000;
        const label = `${service} (${projection.name}) replay ${i}`;
        report.describe({ [`${label}: applied`]: applied, [`${label}: load average before`]: load });
        report.figure(`${label}: seconds for ${TENANTS} tenants`, seconds, 's', 'well under 60 s');
        report.figure(`${label}: events/s`, events / seconds, 'events/s', '>= 5000');
        await printCpu(report, label, await cpu(), events);
      }
      if (check) {
        const { rows } = await pool.query<{ n: number }>(check.sql);
        if (rows[0]?.n !== check.expected) {
          throw new Error(`${projection.name}: expected ${check.expected} rows after replay, found ${rows[0]?.n}`);
        }
      }
    }
    report.describe({ load_average_after: loadAverage() });
    await report.save();
  } finally {
    await pool.end();
    await nc.close();
    await db.drop();
    await nats.stop();
  }
}

/** Each tenant's closed windows of one month: three meters, a day and the month. */
async function publishClosedWindows(nc: Awaited<ReturnType<typeof connect>>, tenants: number): Promise<void> {
  const js = jetstream(nc);
  const meters = [
    ['api_calls', 'count'],
    ['storage_bytes', 'gauge'],
    ['users', 'gauge'],
  ] as const;
  const windows = [
    ['day', '2026-11-30T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
    ['month', '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
  ] as const;
  const chunk = 500;
  for (let start = 0; start < tenants; start += chunk) {
    await Promise.all(
      Array.from({ length: Math.min(chunk, tenants - start) }, async () => {
        const tenantId = randomUUID();
        for (const [meter, kind] of meters) {
          for (const [granularity, windowStart, windowEnd] of windows) {
            const message = encodeMessage(
              WindowClosed,
              { tenantId, meter, kind, granularity, windowStart, windowEnd, value: 1_000 },
              { source: '/ttm/bench', id: `${tenantId}/${meter}/${granularity}/${windowStart}`, subject: tenantId },
            );
            await publishMessage(js, Subjects.billing(tenantId, meter), message);
          }
        }
      }),
    );
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
