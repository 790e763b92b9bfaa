import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Consumers, Streams } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortenAckWait } from '../../../test/support/crashing.js';
import { eventually, type TestStack } from '../../../test/support/stack.js';
import { parseBackupWindow, windowAround, windowBackupId } from '../src/schedule/window.js';
import {
  backupEvents,
  registerTenant,
  seedTenant,
  startBackupStack,
  type TestTenant,
  withClient,
} from './support/fixtures.js';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const root = fileURLToPath(new URL('../../../', import.meta.url));
/** Tenants there when the window's first instance runs; two more come while it is dead. */
const FIRST = 4;
const TENANTS = 6;

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;
const tenants: TestTenant[] = [];
let child: ChildProcess | undefined;

beforeAll(async () => {
  ({ stack, nc, js } = await startBackupStack({
    env: { BACKUP_SCHEDULE_EVERY: '250ms', BACKUP_NEW_TENANT_GRACE: '0', BACKUP_VERIFY_AFTER_BACKUP: 'false' },
  }));
  await shortenAckWait(nc, Streams.COMMANDS, Consumers.backupCommands);
  // 'pro' is backed up daily: with BACKUP_WINDOW set, once in each night's window.
  for (let i = 0; i < FIRST; i++) tenants.push(await tenantWithRows());
}, 120_000);

async function tenantWithRows(): Promise<TestTenant> {
  const tenant = await registerTenant(stack, nc, 'pro');
  await seedTenant(tenant, 30);
  return tenant;
}

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await nc?.close();
  await stack?.stop();
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const hhmmss = (d: Date) => d.toISOString().slice(11, 19);

/** The window backups (by id) that have completed. */
async function completed(ids: string[]): Promise<string[]> {
  const { rows } = await withClient(stack.db.url, (c) =>
    c.query<{ id: string }>(`SELECT id FROM backup.backups WHERE id = ANY($1::uuid[]) AND status = 'completed'`, [ids]),
  );
  return rows.map((r) => r.id);
}

describe('the nightly fleet backup window', () => {
  it('resumes after kill -9 of the backup service mid-window, taking no tenant twice', async () => {
    // A window that opened two hours ago and lasts half an hour more: every tenant's point of
    // it (within its first 75 %) has come, so each is asked for as soon as the service looks.
    const opened = new Date(Date.now() - 2 * 3_600_000);
    const window = parseBackupWindow(`${hhmmss(opened)}-${hhmmss(new Date(opened.getTime() + 2.5 * 3_600_000))}`);
    const occurrence = windowAround(window, new Date())!;
    expect(occurrence).toBeDefined();
    const idOf = (t: TestTenant) => windowBackupId(t.tenantId, occurrence);
    stack.env.BACKUP_WINDOW = window.text;
    // One backup at a time: when two are done, the others are still queued or running.
    stack.env.BACKUP_CONCURRENCY = '1';

    // The real service as a process, killed with SIGKILL once some of the fleet is backed up.
    // `node --import tsx` as `npm start` runs it: one process, so SIGKILL hits the service itself
    // (the tsx launcher would leave its child running).
    child = spawn(process.execPath, ['--import', 'tsx', main], {
      cwd: root,
      env: { ...process.env, ...stack.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<string>((resolve) =>
      child!.once('exit', (code, signal) => resolve(signal ?? `exit ${code}: ${stderr}`)),
    );
    const firstIds = tenants.map(idOf);
    await eventually(async () => ((await completed(firstIds)).length >= 2 ? true : undefined), 120_000);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // Nothing of it survives: no backup process holds the service's consumer any more.
    expect(child.pid && processAlive(child.pid)).toBe(false);
    const beforeKill = await completed(firstIds);
    expect(beforeKill.length).toBeGreaterThanOrEqual(2);

    // Tenants that join the fleet while the service is down are the restarted one's to ask for.
    for (let i = FIRST; i < TENANTS; i++) tenants.push(await tenantWithRows());
    const ids = tenants.map(idOf);

    // Restarted (in-process here), it finishes what was queued or running and asks for the rest.
    await stack.startBackup();
    try {
      await eventually(async () => ((await completed(ids)).length === TENANTS ? true : undefined), 120_000);
    } finally {
      await stack.stopBackup();
      delete stack.env.BACKUP_WINDOW;
      delete stack.env.BACKUP_CONCURRENCY;
    }

    // One backup per tenant in this window: the window's own id, started once, completed once.
    const { rows } = await withClient(stack.db.url, (c) =>
      c.query<{ tenant_id: string; id: string; trigger: string }>(
        `SELECT tenant_id, id, trigger FROM backup.backups WHERE tenant_id = ANY($1::uuid[]) ORDER BY tenant_id`,
        [tenants.map((t) => t.tenantId)],
      ),
    );
    expect(rows).toHaveLength(TENANTS);
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.trigger === 'scheduled')).toBe(true);
    for (const id of ids) {
      const types = (await backupEvents(js, id)).map((e) => e.type);
      expect(
        types.filter((t) => t === 'ttm.backup.started.v1'),
        id,
      ).toHaveLength(1);
      expect(
        types.filter((t) => t === 'ttm.backup.completed.v1'),
        id,
      ).toHaveLength(1);
    }
  }, 400_000);
});
