/**
 * The nightly backup of a fleet: BENCH_FLEET_TENANTS tenants on a plan backed up daily, each
 * with BENCH_FLEET_RECORDS records, backed up by the real backup service (a process, started as
 * `npm start` starts it) inside a BACKUP_WINDOW of BENCH_FLEET_WINDOW_S seconds that opens when
 * the service has started. Figures: tenants/hour over the window, whether it finished inside it,
 * CPU per tenant backup, and the p99 of one tenant's reads through the gateway in a quiet
 * stretch before the window, during it, and in a quiet stretch after it, as a ratio.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PLANS } from '@ttm/service-kit';
import pg from 'pg';
import { traffic } from './backup.js';
import { cpuSecondsOf, cpuSecondsOfCommand } from './lib/cpu.js';
import { gatewayClient, unmeteredPlan } from './lib/gatewayClient.js';
import { sleep, until, waitReady } from './lib/polling.js';
import { BENCH_ADMIN_KEY, startProcessStack } from './lib/processStack.js';
import { BenchReport, quantile } from './lib/report.js';
import { type Placement, placementUrl, seedCompaniesAndPeople } from './lib/workspaces.js';

const TENANTS = Number(process.env.BENCH_FLEET_TENANTS ?? 40);
const RECORDS = Number(process.env.BENCH_FLEET_RECORDS ?? 2_000);
const WINDOW_S = Number(process.env.BENCH_FLEET_WINDOW_S ?? 120);
const QUIET_MS = Number(process.env.BENCH_FLEET_QUIET_MS ?? 20_000);
/** Seconds from starting the backup service to the window's opening: its start-up, then the quiet stretch before. */
const LEAD_S = Number(process.env.BENCH_FLEET_LEAD_S ?? 90);
const RATE = Number(process.env.BENCH_FLEET_READ_RATE ?? 20);
const root = fileURLToPath(new URL('../', import.meta.url));

export async function run(): Promise<void> {
  const report = new BenchReport('fleet-backup');
  const plans = [...DEFAULT_PLANS, unmeteredPlan('nightly', { scheduleEveryMs: 86_400_000, keepLast: 7 })];
  const stack = await startProcessStack(['gateway', 'provisioner'], {
    PLANS: JSON.stringify(plans),
    LOG_LEVEL: 'warn',
  });
  let backup: ChildProcess | undefined;
  const clients: pg.Client[] = [];
  const { api, json, signUp, logIn } = gatewayClient(stack.gatewayUrl, BENCH_ADMIN_KEY);

  try {
    // The fleet: registered as their admins would, a few at a time, then filled with records.
    const setupStarted = performance.now();
    const tag = Date.now().toString(36);
    const tenants: { tenantId: string; email: string }[] = [];
    const register = async (i: number) => {
      const email = `fleet-${tag}-${i}@fleet.bench`;
      const tenantId = await signUp(
        { name: `Fleet ${i}`, email, plan: 'nightly', ...(i % 2 === 1 ? { region: 'eu-west-1' } : {}) },
        120_000,
      );
      tenants.push({ tenantId, email });
    };
    for (let i = 0; i < TENANTS; i += 8) {
      await Promise.all(Array.from({ length: Math.min(8, TENANTS - i) }, (_, k) => register(i + k)));
    }
    const placements: Placement[] = [];
    for (const t of tenants) {
      placements.push((await json<{ placement: Placement }>(await api(`/api/admin/tenants/${t.tenantId}`))).placement);
    }
    for (const url of new Set(placements.map((p) => placementUrl(stack.env, p)))) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      clients.push(client);
    }
    for (const p of placements) {
      const client = clients.find((c) => c.database === p.database)!;
      await seedCompaniesAndPeople(client, p.schema, Math.floor(RECORDS / 2));
    }
    const setupSeconds = (performance.now() - setupStarted) / 1_000;

    // One tenant's traffic: page reads of its companies through the gateway.
    const first = tenants[0]!;
    const token = await logIn(first.email);
    const read = async () => {
      const response = await api('/api/tenant/objects/company?limit=20', { token });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    };
    for (const until = performance.now() + 3_000; performance.now() < until; ) await read();

    // The backup service starts with a window that opens a while later (its start-up on a
    // loaded machine is not part of the window), and the quiet stretch runs until it opens.
    const opened = new Date(Date.now() + LEAD_S * 1_000);
    const hhmmss = (d: Date) => d.toISOString().slice(11, 19);
    const window = `${hhmmss(opened)}-${hhmmss(new Date(opened.getTime() + WINDOW_S * 1_000))}`;
    const env = {
      ...process.env,
      ...stack.env,
      BACKUP_WINDOW: window,
      BACKUP_SCHEDULE_EVERY: '1s',
      BACKUP_NEW_TENANT_GRACE: '0',
    };
    backup = spawn(process.execPath, ['--import', 'tsx', `${root}services/backup/src/main.ts`], {
      cwd: root,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitReady(`http://127.0.0.1:${stack.env.BACKUP_PORT}/health/ready`, LEAD_S * 1_000);
    // Cores each part uses in each stretch (PostgreSQL: every backend on the machine).
    const usage = () => ({
      at: performance.now(),
      gateway: cpuSecondsOf(stack.pids.gateway!),
      backup: cpuSecondsOf(backup!.pid!),
      postgres: cpuSecondsOfCommand('postgres'),
    });
    const cores = (a: ReturnType<typeof usage>, b: ReturnType<typeof usage>) => {
      const seconds = (b.at - a.at) / 1_000;
      return {
        gateway: (b.gateway - a.gateway) / seconds,
        backup: (b.backup - a.backup) / seconds,
        postgres: (b.postgres - a.postgres) / seconds,
      };
    };
    const u0 = usage();
    const before = await traffic(read, RATE, () => sleep(Math.max(0, opened.getTime() - Date.now())));
    const u1 = usage();
    const control = new pg.Client({ connectionString: stack.db.url });
    await control.connect();
    clients.push(control);
    const cpu = () => ({ backup: cpuSecondsOf(backup!.pid!), postgres: cpuSecondsOfCommand('postgres') });
    const cpuBefore = cpu();
    let lastDoneAt = opened;
    let failed = 0;
    const during = await traffic(read, RATE, async () => {
      await until(
        async () => {
          const { rows } = await control
            .query<{ done: number; failed: number; last: Date | null }>(
              `SELECT count(*) FILTER (WHERE status = 'completed' AND (verification IS NOT NULL OR $2))::int AS done,
                      count(*) FILTER (WHERE status = 'failed')::int AS failed,
                      max(greatest(completed_at, verified_at)) AS last
                 FROM backup.backups WHERE tenant_id = ANY($1::uuid[]) AND trigger = 'scheduled'`,
              [tenants.map((t) => t.tenantId), process.env.BACKUP_VERIFY_AFTER_BACKUP === 'false'],
            )
            .catch(() => ({ rows: [{ done: 0, failed: 0, last: null }] }));
          const r = rows[0]!;
          failed = r.failed;
          if (r.last) lastDoneAt = r.last;
          return r.done + r.failed >= TENANTS;
        },
        WINDOW_S * 1_000 * 4,
        100,
      );
    });
    const cpuAfter = cpu();
    const u2 = usage();
    const after = await traffic(read, RATE, () => sleep(QUIET_MS));
    const u3 = usage();
    for (const [stretch, c] of [
      ['before the window', cores(u0, u1)],
      ['during the window', cores(u1, u2)],
      ['after the window', cores(u2, u3)],
    ] as const) {
      for (const [part, value] of Object.entries(c)) report.figure(`${part} CPU ${stretch}`, value, 'cores');
    }

    const fleetSeconds = (lastDoneAt.getTime() - opened.getTime()) / 1_000;
    const quiet = [...before.latencies, ...after.latencies];
    const p99Quiet = quantile(quiet, 0.99);
    const p99During = quantile(during.latencies, 0.99);
    report.describe({
      tenants: TENANTS,
      records_per_tenant: RECORDS,
      regions: 'half us-east-1, half eu-west-1',
      window: `${window} UTC (${WINDOW_S} s; starts spread over the first 75 %)`,
      setup_seconds: Math.round(setupSeconds),
      read_rate_per_second: RATE,
      traffic: 'GET /api/tenant/objects/company?limit=20 of one tenant of the fleet, through the gateway',
      backup_settings: {
        BACKUP_CONCURRENCY: process.env.BACKUP_CONCURRENCY ?? 'default',
        BACKUP_MAX_ROWS_PER_SECOND: process.env.BACKUP_MAX_ROWS_PER_SECOND ?? 'default',
        BACKUP_VERIFY_AFTER_BACKUP: process.env.BACKUP_VERIFY_AFTER_BACKUP ?? 'default (true)',
      },
    });
    report.figure('fleet backed up (and verified) in', fleetSeconds, 's', `< window ${WINDOW_S} s`);
    report.figure('finished inside the window', fleetSeconds <= WINDOW_S ? 1 : 0, 'yes=1');
    report.figure('tenants per hour over the window', (TENANTS / Math.max(fleetSeconds, 0.001)) * 3_600, 'tenants/h');
    report.figure('failed backups', failed, 'backups');
    report.figure('backup service CPU per tenant', ((cpuAfter.backup - cpuBefore.backup) / TENANTS) * 1_000, 'ms');
    report.figure(
      'PostgreSQL CPU per tenant (all backends on the machine)',
      ((cpuAfter.postgres - cpuBefore.postgres) / TENANTS) * 1_000,
      'ms',
    );
    report.figure('tenant read p50 quiet', quantile(quiet, 0.5), 'ms');
    report.figure('tenant read p50 during the window', quantile(during.latencies, 0.5), 'ms');
    report.figure('tenant read p99 quiet (before and after)', p99Quiet, 'ms');
    report.figure('tenant read p99 before the window', quantile(before.latencies, 0.99), 'ms');
    report.figure('tenant read p99 after the window', quantile(after.latencies, 0.99), 'ms');
    report.figure('tenant read p99 during the window', p99During, 'ms');
    report.figure('tenant read p99 during / quiet', p99During / p99Quiet, 'ratio', '< 1.2');
    report.figure('tenant read errors', before.errors + during.errors + after.errors, 'requests');
    await report.save();
  } finally {
    for (const client of clients) await client.end().catch(() => undefined);
    if (backup && backup.exitCode === null) {
      const exited = new Promise<void>((resolve) => backup!.once('exit', () => resolve()));
      backup.kill('SIGTERM');
      setTimeout(() => backup?.kill('SIGKILL'), 15_000).unref();
      await exited;
    }
    await stack.stop();
  }
}
