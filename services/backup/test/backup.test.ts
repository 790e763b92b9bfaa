import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { type BackupManifest, BackupVerified, backupBucketOf, VerifyBackup } from '@ttm/contracts';
import { WORKSPACE_SCHEMA_VERSION, workspaceSchemaName } from '@ttm/data-plane';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { selectForDeletion } from '../src/retention/selectForDeletion.js';
import { askForDueBackups } from '../src/schedule/scheduler.js';
import { scheduledBackupId, scheduledSlot } from '../src/schedule/slots.js';
import { backupObjectPrefix } from '../src/store/index.js';
import {
  ADMIN,
  backUp,
  backupEvents,
  registerTenant,
  restoreAndWait,
  schemaChecksums,
  seedTenant,
  send,
  startBackupStack,
  type TestTenant,
  untilEvent,
  withClient,
} from './support/fixtures.js';

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;
let tenant: TestTenant;

beforeAll(async () => {
  ({ stack, nc, js } = await startBackupStack({ backup: true }));
  tenant = await registerTenant(stack, nc);
  await seedTenant(tenant, 300, 2_000);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

async function restoreClone(backupId: string) {
  const targetTenantId = randomUUID();
  const { restoreId, end } = await restoreAndWait(nc, backupId, { mode: 'clone', targetTenantId });
  expect(end.type, JSON.stringify(end.data)).toBe('ttm.backup.restore-completed.v1');
  return { restoreId, targetTenantId, schema: workspaceSchemaName(targetTenantId) };
}

async function bytes(chunks: AsyncIterable<Uint8Array> | undefined): Promise<Buffer | undefined> {
  if (!chunks) return undefined;
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

const workspaceTables = (manifest: BackupManifest) =>
  Object.fromEntries(
    manifest.tables.filter((t) => t.scope === 'workspace').map((t) => [t.name, { rows: t.rows, sha256: t.sha256 }]),
  );

describe('backup and restore', () => {
  it('backs up a tenant, verifies it, and a clone restores identical data', async () => {
    const before = await schemaChecksums(tenant.url, tenant.schema);
    const { backupId, manifest } = await backUp(nc, tenant.tenantId);
    expect(manifest).toMatchObject({
      tenantId: tenant.tenantId,
      schemaVersion: WORKSPACE_SCHEMA_VERSION,
      store: 'nats',
    });
    expect(workspaceTables(manifest)).toEqual(before);
    expect(before.company?.rows).toBe(300);
    expect(before.person?.rows).toBe(300);
    const core = Object.fromEntries(manifest.tables.filter((t) => t.scope === 'core').map((t) => [t.name, t.rows]));
    expect(core).toEqual({ workspace: 1, user: 1, userWorkspace: 1, role: 2, roleTarget: 1, dataSource: 1 });

    const verified = await untilEvent(js, backupId, 'ttm.backup.verified.v1');
    expect(verified.data).toMatchObject({ verificationId: backupId, result: 'ok', mismatches: [] });

    const clone = await restoreClone(backupId);
    expect(await schemaChecksums(tenant.url, clone.schema)).toEqual(before);
    const events = await backupEvents(js, backupId);
    const progress = events
      .filter((e) => e.type === 'ttm.backup.restore-progressed.v1')
      .map((e) => (e.data as { step: string }).step);
    expect(progress).toEqual(['read-artifact', 'prepare-target', 'load-rows', 'check']);
    const [workspace] = await withClient(
      tenant.url,
      async (c) =>
        (
          await c.query(
            `SELECT w."activationStatus", w."databaseSchema", (SELECT count(*)::int FROM core."userWorkspace" uw WHERE uw."workspaceId" = w.id) AS members
             FROM core.workspace w WHERE w.id = $1`,
            [clone.targetTenantId],
          )
        ).rows,
    );
    expect(workspace).toEqual({ activationStatus: 'INACTIVE', databaseSchema: clone.schema, members: 1 });
  }, 60_000);

  it('restores in place: the tenant gets back exactly the data of the backup', async () => {
    const before = await schemaChecksums(tenant.url, tenant.schema);
    const { backupId } = await backUp(nc, tenant.tenantId);
    await withClient(tenant.url, async (c) => {
      await c.query(`DELETE FROM ${tenant.schema}.person WHERE "nameLastName" LIKE 'Company 1%'`);
      await c.query(`UPDATE ${tenant.schema}.company SET name = 'changed' WHERE employees < 50`);
      await c.query(`INSERT INTO ${tenant.schema}.note (title) VALUES ('after the backup')`);
    });
    expect(await schemaChecksums(tenant.url, tenant.schema)).not.toEqual(before);
    const { end } = await restoreAndWait(nc, backupId, { mode: 'in-place' });
    expect(end.type, JSON.stringify(end.data)).toBe('ttm.backup.restore-completed.v1');
    expect(await schemaChecksums(tenant.url, tenant.schema)).toEqual(before);
  }, 60_000);

  it('takes a backup under concurrent writes at one instant', async () => {
    const s = tenant.schema;
    let written = 0;
    let committed = 0;
    let writing = true;
    const writer = withClient(tenant.url, async (c) => {
      while (writing) {
        written++;
        // A company and its person in one transaction: a consistent snapshot has both or neither.
        await c.query(
          `WITH c AS (INSERT INTO ${s}.company (name, employees) VALUES ($1, $2) RETURNING id)
           INSERT INTO ${s}.person ("nameLastName", "companyId") SELECT $1, id FROM c`,
          [`w-${written}`, written],
        );
        committed++;
      }
    });
    // Conditions, not time: some writes before the backup, and some after it was taken.
    const untilCommitted = (n: number) => eventually(async () => (committed >= n ? true : undefined), 30_000);
    try {
      await untilCommitted(5);
      const { backupId, manifest } = await backUp(nc, tenant.tenantId);
      await untilCommitted(committed + 5);
      writing = false;
      await writer;
      const clone = await restoreClone(backupId);
      const counts = await withClient(tenant.url, async (c) => {
        const companies = await c.query<{ n: number; max: number }>(
          `SELECT count(*)::int AS n, coalesce(max(employees), 0)::int AS max FROM ${clone.schema}.company WHERE name LIKE 'w-%'`,
        );
        const persons = await c.query<{ n: number; orphans: number }>(
          `SELECT count(*)::int AS n,
                  count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ${clone.schema}.company k WHERE k.id = p."companyId"))::int AS orphans
             FROM ${clone.schema}.person p WHERE "nameLastName" LIKE 'w-%'`,
        );
        const total = await c.query<{ company: number; person: number }>(
          `SELECT (SELECT count(*)::int FROM ${clone.schema}.company) AS company, (SELECT count(*)::int FROM ${clone.schema}.person) AS person`,
        );
        return { companies: companies.rows[0]!, persons: persons.rows[0]!, total: total.rows[0]! };
      });
      const tables = workspaceTables(manifest);
      expect(counts.total).toEqual({ company: tables.company?.rows, person: tables.person?.rows });
      // Every pair or none, and a prefix of the writes: 1..k with no gap.
      expect(counts.persons.n).toBe(counts.companies.n);
      expect(counts.persons.orphans).toBe(0);
      expect(counts.companies.max).toBe(counts.companies.n);
      expect(counts.companies.n).toBeGreaterThan(0);
      expect(written).toBeGreaterThan(counts.companies.n); // writes went on after the snapshot
    } finally {
      writing = false;
      await writer.catch(() => undefined);
    }
  }, 60_000);

  it('reports a tampered artifact as a mismatch', async () => {
    const { backupId, manifest } = await backUp(nc, tenant.tenantId);
    await untilEvent(js, backupId, 'ttm.backup.verified.v1');
    // Tampered by someone who holds the key: the checksums of the manifest still catch it.
    const store = stack.backup!.deps.stores.of('us-east-1');
    const original = gunzipSync((await bytes(await store.get(manifest.objectName)))!).toString('utf8');
    const tampered = original.replace(/"name":"Company 7"/, '"name":"Company 7 (forged)"');
    expect(tampered).not.toBe(original);
    await store.put(manifest.objectName, Readable.from([gzipSync(tampered)]));

    const verificationId = randomUUID();
    await send(nc, VerifyBackup, { backupId, verificationId, actor: ADMIN });
    const verified = await untilEvent(
      js,
      backupId,
      'ttm.backup.verified.v1',
      (d) => d.verificationId === verificationId,
    );
    const data = BackupVerified.schema.parse(verified.data);
    expect(data.result).toBe('mismatch');
    expect(data.mismatches.map((m) => `${m.scope}.${m.name}`)).toEqual(['workspace.company']);
    expect(data.mismatches[0]?.expected?.rows).toBe(data.mismatches[0]?.actual?.rows);

    // Cut short: not a whole artifact.
    await store.put(manifest.objectName, Readable.from([gzipSync(original.slice(0, original.length / 2))]));
    const second = randomUUID();
    await send(nc, VerifyBackup, { backupId, verificationId: second, actor: ADMIN });
    const cut = await untilEvent(js, backupId, 'ttm.backup.verified.v1', (d) => d.verificationId === second);
    expect(cut.data).toMatchObject({ result: 'mismatch', detail: expect.stringMatching(/cut short|unexpected line/) });
  }, 60_000);

  it('keeps artifacts encrypted at rest, refuses an altered one, and still restores an unencrypted one', async () => {
    const { backupId, manifest } = await backUp(nc, tenant.tenantId);
    await untilEvent(js, backupId, 'ttm.backup.verified.v1');
    const bucket = await new Objm(nc).open(backupBucketOf('us-east-1'));
    const raw = (await bucket.getBlob(manifest.objectName))!;
    expect(Buffer.from(raw.subarray(0, 8)).toString()).toBe('TTMBENC1');
    const plain = gunzipSync((await bytes(await stack.backup!.deps.stores.of('us-east-1').get(manifest.objectName)))!);
    expect(plain.toString('utf8')).toContain('"name":"Company 7"');
    // Neither the rows nor the gzip stream of them are in the stored bytes.
    expect(Buffer.from(raw).includes(Buffer.from('Company 7'))).toBe(false);
    expect(Buffer.from(raw).includes(gunzipSync(gzipSync(plain)).subarray(0, 64))).toBe(false);

    const verify = async () => {
      const verificationId = randomUUID();
      await send(nc, VerifyBackup, { backupId, verificationId, actor: ADMIN });
      return (await untilEvent(js, backupId, 'ttm.backup.verified.v1', (d) => d.verificationId === verificationId))
        .data as { result: string; detail?: string };
    };
    // One bit flipped in the middle of the ciphertext.
    const altered = Buffer.from(raw);
    altered[Math.floor(altered.length / 2)]! ^= 0x01;
    await bucket.putBlob({ name: manifest.objectName }, altered);
    expect(await verify()).toMatchObject({
      result: 'mismatch',
      detail: expect.stringContaining('does not authenticate'),
    });
    // The last segment dropped.
    await bucket.putBlob({ name: manifest.objectName }, raw.subarray(0, raw.length - 40));
    expect(await verify()).toMatchObject({ result: 'mismatch', detail: expect.stringContaining('cut short') });

    // An artifact of an earlier version: gzip, no encryption. Verified and restored as before.
    await bucket.putBlob({ name: manifest.objectName }, gzipSync(plain));
    expect(await verify()).toMatchObject({ result: 'ok' });
    const clone = await restoreClone(backupId);
    expect(await schemaChecksums(tenant.url, clone.schema)).toEqual(workspaceTables(manifest));
  }, 60_000);

  it('asks for the scheduled backup of each tenant due one, once per slot', async () => {
    const deps = stack.backup!.deps;
    await eventually(async () => {
      const { rows } = await deps.pool.query(
        `SELECT 1 FROM backup.tenants WHERE tenant_id = $1 AND status = 'active'`,
        [tenant.tenantId],
      );
      return rows.length > 0 ? true : undefined;
    });
    const everyMs = deps.catalog.plan('pro')!.backups.scheduleEveryMs;
    // Seen for the first time: not due until the grace after that has passed.
    const seen = new Date();
    const grace = 60_000;
    await askForDueBackups(deps, seen, undefined, grace);
    const earlyId = scheduledBackupId(tenant.tenantId, everyMs, scheduledSlot(tenant.tenantId, everyMs, seen));
    const early = await deps.pool.query('SELECT 1 FROM backup.scheduled_requests WHERE backup_id = $1', [earlyId]);
    expect(early.rowCount).toBe(0);
    const now = new Date(seen.getTime() + grace);
    const backupId = scheduledBackupId(tenant.tenantId, everyMs, scheduledSlot(tenant.tenantId, everyMs, now));
    expect(await askForDueBackups(deps, now, undefined, grace)).toBeGreaterThanOrEqual(1);
    const completed = await untilEvent(js, backupId, 'ttm.backup.completed.v1');
    expect((await backupEvents(js, backupId))[0]?.data).toMatchObject({
      trigger: 'scheduled',
      actor: { kind: 'system' },
    });
    expect(completed.data).toMatchObject({ tenantId: tenant.tenantId });
    await eventually(async () => {
      const { rows } = await deps.pool.query('SELECT 1 FROM backup.backups WHERE id = $1', [backupId]);
      return rows.length > 0 ? true : undefined;
    });
    const again = await askForDueBackups(deps, now, undefined, grace);
    const { rows: due } = await deps.pool.query(
      `SELECT tenant_id FROM backup.tenants WHERE status = 'active' AND plan = 'pro'`,
    );
    expect(again).toBeLessThan(due.length);
  }, 60_000);

  it('retention deletes exactly what the plan says, artifacts included', async () => {
    // free: keep the last 3, no daily or weekly ones.
    const small = await registerTenant(stack, nc, 'free');
    const taken: { id: string; completedAt: Date; objectName: string }[] = [];
    for (let i = 0; i < 5; i++) {
      const { backupId, manifest } = await backUp(nc, small.tenantId);
      const completed = (await backupEvents(js, backupId)).find((e) => e.type === 'ttm.backup.completed.v1')!;
      taken.push({
        id: backupId,
        completedAt: new Date((completed.data as { completedAt: string }).completedAt),
        objectName: manifest.objectName,
      });
      await untilEvent(js, backupId, 'ttm.backup.verified.v1');
    }
    const expected = selectForDeletion(taken, { keepLast: 3, keepDaily: 0, keepWeekly: 0 }, new Date());
    expect(expected).toEqual(taken.slice(0, 2).map((t) => t.id));
    const bucket = await new Objm(nc).open(backupBucketOf('us-east-1'));
    const objectsOf = async (backupId: string) =>
      (await bucket.list()).filter(
        (o) => !o.deleted && o.name.startsWith(backupObjectPrefix(small.tenantId, backupId)),
      );
    for (const backup of taken) {
      // The deletion is recorded first, then its artifacts are removed.
      const objects = expected.includes(backup.id)
        ? await eventually(async () => ((await objectsOf(backup.id)).length === 0 ? [] : undefined))
        : await objectsOf(backup.id);
      const deleted = (await backupEvents(js, backup.id)).find((e) => e.type === 'ttm.backup.deleted.v1');
      if (expected.includes(backup.id)) {
        expect(deleted?.data).toMatchObject({ reason: 'retention' });
        expect(objects).toEqual([]);
      } else {
        expect(deleted).toBeUndefined();
        expect(objects.map((o) => o.name)).toEqual([backup.objectName]);
      }
    }
    const listed = await stack.backup!.deps.pool.query<{ id: string; status: string }>(
      'SELECT id, status FROM backup.backups WHERE tenant_id = $1',
      [small.tenantId],
    );
    expect(Object.fromEntries(listed.rows.map((r) => [r.id, r.status]))).toEqual(
      Object.fromEntries(taken.map((t) => [t.id, expected.includes(t.id) ? 'deleted' : 'completed'])),
    );
  }, 60_000);
});
