/**
 * Backup and restore of one tenant with BENCH_BACKUP_RECORDS records (companies and people,
 * inserted in bulk into its workspace schema), through the real gateway and backup service run
 * as processes: backup and restore throughput (MB/s of table data, rows/s), and the p99 latency
 * of the tenant's own traffic (HTTP reads through the gateway, `GET /api/tenant/objects/company`,
 * or direct SQL reads of the workspace when that route is not there) without and with a backup
 * running (backups back to back through the window). Quiet and backup windows alternate, ROUNDS
 * times, so drift on this shared machine hits both alike.
 */

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBackupStore, takeSnapshot } from '@ttm/backup';
import { DEFAULT_PLANS } from '@ttm/service-kit';
import pg from 'pg';
import { gatewayClient, unmeteredPlan } from './lib/gatewayClient.js';
import { sleep, until } from './lib/polling.js';
import { BENCH_ADMIN_KEY, startProcessStack } from './lib/processStack.js';
import { BenchReport, median, quantile } from './lib/report.js';
import { type Placement, placementUrl, seedCompaniesAndPeople } from './lib/workspaces.js';

const RECORDS = Number(process.env.BENCH_BACKUP_RECORDS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_BACKUP_ROUNDS ?? 3);
/** Tenant reads per second, sent at a fixed rate (open loop); default: 30 % of what reads one at a time sustain, at most 100. */
const RATE = process.env.BENCH_BACKUP_READ_RATE ? Number(process.env.BENCH_BACKUP_READ_RATE) : undefined;
/** Length of each quiet window and each window with backups running back to back. */
const WINDOW_MS = Number(process.env.BENCH_BACKUP_WINDOW_MS ?? 15_000);
const WARMUP_MS = 5_000;

interface Restore {
  id: string;
  status: string;
  rows: number | null;
  duration_ms: number | null;
}

interface Backup {
  id: string;
  status: string;
  duration_ms: number | null;
  size_bytes: number | null;
  rows: number | null;
  restores: Restore[];
}

export async function run(): Promise<void> {
  const report = new BenchReport('backup');
  const plans = [...DEFAULT_PLANS, unmeteredPlan('bench', { scheduleEveryMs: 0, keepLast: 100 })];
  const stack = await startProcessStack(['gateway', 'provisioner', 'backup'], {
    PLANS: JSON.stringify(plans),
    BACKUP_SCHEDULE_EVERY: '0',
    // Verification (a restore into a scratch schema) would run after each backup and spill into
    // the quiet windows; it is measured by the restore figures instead.
    BACKUP_VERIFY_AFTER_BACKUP: 'false',
    LOG_LEVEL: 'warn',
  });
  // Optional: the backup service at a lower CPU priority (a deployment choice, compared by the figures).
  const nice = Number(process.env.BENCH_BACKUP_NICE ?? 0);
  if (nice > 0) setPriority(stack.pids.backup!, nice);
  const { api, json, signUp, logIn } = gatewayClient(stack.gatewayUrl, BENCH_ADMIN_KEY);

  let db: pg.Client | undefined;
  try {
    // A tenant, signed up and logged in as its users would be.
    const email = `bench-${Date.now()}@backup.bench`;
    const tenantId = await signUp({ name: 'Backup Bench', email, plan: 'bench' }, 60_000);
    const token = await logIn(email);
    const detail = await json<{ placement: Placement }>(await api(`/api/admin/tenants/${tenantId}`));
    const placement = detail.placement;
    const workspaceUrl = placementUrl(stack.env, placement);
    db = new pg.Client({ connectionString: workspaceUrl });
    await db.connect();

    // Half companies, half people working there, in bulk.
    const loadStarted = performance.now();
    const companies = Math.floor(RECORDS / 2);
    await seedCompaniesAndPeople(db, placement.schema, companies, RECORDS - 2 * companies);
    const loadMs = performance.now() - loadStarted;
    const { rows: sizeRows } = await db.query<{ bytes: string }>(
      `SELECT coalesce(sum(pg_table_size(c.oid)), 0)::bigint AS bytes FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [placement.schema],
    );
    const dataBytes = Number(sizeRows[0]!.bytes);

    // What the snapshot itself sustains, unpaced (the service paces backups, see below): the
    // same code in this process, into a file store.
    {
      const scratch = await mkdtemp(join(tmpdir(), 'ttm-bench-backup-'));
      const pool = new pg.Pool({ connectionString: workspaceUrl, max: 2 });
      try {
        const started = performance.now();
        const snapshot = await takeSnapshot(
          pool,
          { backupId: randomUUID(), tenantId, schema: placement.schema, objectName: 'raw.ttmb.gz', batchRows: 5_000 },
          new FileBackupStore(scratch),
        );
        const seconds = (performance.now() - started) / 1_000;
        report.figure('backup throughput unpaced (table data)', dataBytes / 1024 ** 2 / seconds, 'MB/s');
        report.figure('backup rows per second unpaced', snapshot.totalRows / seconds, 'rows/s');
      } finally {
        await pool.end();
        await rm(scratch, { recursive: true, force: true });
      }
    }

    // The tenant's traffic: HTTP reads through the gateway when the records API is there.
    const probe = await api('/api/tenant/objects/company?limit=20', { token });
    await probe.text();
    const viaHttp = probe.status === 200;
    const read = viaHttp
      ? async () => {
          const response = await api('/api/tenant/objects/company?limit=20', { token });
          await response.arrayBuffer();
          if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
        }
      : await sqlReader(workspaceUrl, placement.schema);

    report.describe({
      records: RECORDS,
      table_data_mib: Math.round((dataBytes / 1024 ** 2) * 10) / 10,
      load_seconds: Math.round(loadMs / 100) / 10,
      traffic: viaHttp
        ? 'GET /api/tenant/objects/company?limit=20 through the gateway'
        : `direct SQL reads of the workspace schema (the records API answered HTTP ${probe.status})`,
      rounds: ROUNDS,
      services: 'gateway, provisioner, backup as processes; nats-server, PostgreSQL and this client share the machine',
    });

    // Warm up (JIT, pools, caches), one read at a time, which also gives the unloaded latency:
    // the measured rate stays well under what the machine sustains (an open-loop sender past
    // saturation measures its own queue, not the backup's effect).
    const alone: number[] = [];
    for (const until = performance.now() + WARMUP_MS; performance.now() < until; ) {
      const t = performance.now();
      await read();
      alone.push(performance.now() - t);
    }
    const unloaded = quantile(alone.slice(Math.floor(alone.length / 2)), 0.5);
    const rate = RATE ?? Math.max(2, Math.min(100, Math.round((0.3 * 1_000) / unloaded)));
    report.describe({
      unloaded_read_ms: Math.round(unloaded * 10) / 10,
      read_rate_per_second: rate,
      window_seconds: WINDOW_MS / 1_000,
      backup_service_nice: nice,
      backup_max_rows_per_second: process.env.BACKUP_MAX_ROWS_PER_SECOND ?? 'service default',
    });
    const quiet: number[] = [];
    const busy: number[] = [];
    let errors = 0;
    const backups: Backup[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // A quiet window, then a window as long with backups running back to back.
      const q = await traffic(read, rate, () => sleep(WINDOW_MS));
      quiet.push(...q.latencies);
      errors += q.errors;
      const b = await traffic(read, rate, async () => {
        const until = performance.now() + WINDOW_MS;
        do {
          const op = await json<{ operation_id: string }>(
            await api(`/api/admin/tenants/${tenantId}/backups`, { method: 'POST' }),
            [202],
          );
          await untilOperation(api, op.operation_id);
          backups.push(await json<Backup>(await api(`/api/admin/backups/${op.operation_id}`)));
        } while (performance.now() < until);
      });
      busy.push(...b.latencies);
      errors += b.errors;
    }

    const good = backups.filter((b) => b.status === 'completed');
    if (good.length === 0) throw new Error('no backup completed');
    const last = good.at(-1)!;
    const backupSeconds = median(good.map((b) => b.duration_ms! / 1_000));
    report.figure('backup throughput paced by the service (table data)', dataBytes / 1024 ** 2 / backupSeconds, 'MB/s');
    report.figure('backup rows per second paced by the service', last.rows! / backupSeconds, 'rows/s');
    report.figure('backup duration (median)', backupSeconds, 's');
    report.figure('backup artifact size', last.size_bytes! / 1024 ** 2, 'MiB');

    // Restore: into a clone (a new inactive tenant next to it), then in place, each timed by the backup service.
    for (const mode of ['clone', 'in-place'] as const) {
      const op = await json<{ operation_id: string }>(
        await api(`/api/admin/tenants/${tenantId}/restore`, {
          method: 'POST',
          body: JSON.stringify({ backup_id: last.id, mode }),
        }),
        [202],
      );
      await untilOperation(api, op.operation_id);
      const restore = (await json<Backup>(await api(`/api/admin/backups/${last.id}`))).restores.find(
        (r) => r.id === op.operation_id,
      );
      if (restore?.status !== 'completed') throw new Error(`${mode} restore ended ${restore?.status ?? 'unknown'}`);
      const seconds = restore.duration_ms! / 1_000;
      report.figure(`restore (${mode}) time, RTO`, seconds, 's');
      report.figure(`restore (${mode}) throughput (table data)`, dataBytes / 1024 ** 2 / seconds, 'MB/s');
      report.figure(`restore (${mode}) rows per second`, restore.rows! / seconds, 'rows/s');
    }

    const p99Quiet = quantile(quiet, 0.99);
    const p99Busy = quantile(busy, 0.99);
    report.figure('tenant read p50 without backup', quantile(quiet, 0.5), 'ms');
    report.figure('tenant read p50 during backup', quantile(busy, 0.5), 'ms');
    report.figure('tenant read p99 without backup', p99Quiet, 'ms');
    report.figure('tenant read p99 during backup', p99Busy, 'ms');
    report.figure('tenant read p99 increase during backup', ((p99Busy - p99Quiet) / p99Quiet) * 100, '%', '< 20 %');
    report.figure('tenant reads measured', quiet.length + busy.length, 'requests');
    report.figure('tenant read errors', errors, 'requests');
    await report.save();
  } finally {
    await db?.end().catch(() => undefined);
    await stack.stop();
  }
}

/** Reads of a page of companies straight from the workspace schema, over a small pool. */
async function sqlReader(url: string, schema: string): Promise<() => Promise<void>> {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  const s = pg.escapeIdentifier(schema);
  let offset = 0;
  return async () => {
    offset = (offset + 20) % 10_000;
    await pool.query(
      `SELECT * FROM ${s}.company WHERE "deletedAt" IS NULL ORDER BY "createdAt", id LIMIT 20 OFFSET $1`,
      [offset],
    );
  };
}

/**
 * Send `read` at `rate` per second until `during` resolves; latency of each from its scheduled
 * start (so a stalled server shows in the figures instead of slowing the sender down).
 */
export async function traffic(
  read: () => Promise<void>,
  rate: number,
  during: () => Promise<void>,
): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const inFlight = new Set<Promise<void>>();
  let running = true;
  const interval = 1_000 / rate;
  const sender = (async () => {
    const start = performance.now();
    for (let i = 0; running; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (inFlight.size >= 256) continue;
      const task = read().then(
        () => {
          latencies.push(performance.now() - due);
        },
        () => {
          errors++;
        },
      );
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
    }
  })();
  try {
    await during();
  } finally {
    running = false;
    await sender;
    await Promise.all(inFlight);
  }
  return { latencies, errors };
}

async function untilOperation(
  api: (path: string) => Promise<Response>,
  operationId: string,
  timeoutMs = 600_000,
): Promise<void> {
  await until(async () => {
    const response = await api(`/api/operations/${operationId}`);
    if (response.status === 404) {
      await response.text();
      return false;
    }
    const op = (await response.json()) as { status: string; error?: string };
    if (op.status === 'failed') throw new Error(`operation ${operationId} failed: ${op.error ?? 'no reason'}`);
    return op.status === 'succeeded';
  }, timeoutMs);
}
