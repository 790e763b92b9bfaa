import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ArchiveTenantWorkspace, DeleteBackup, Subjects } from '@ttm/contracts';
import { readAggregate } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeOf } from '../../../test/support/migrations.js';
import { eventually, startConnectedStack, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import {
  ADMIN,
  backupEvents,
  registerTenant,
  restoreAndWait,
  schemaChecksums,
  seedTenant,
  send,
  type TestTenant,
  untilEvent,
  withClient,
} from './support/fixtures.js';

let stack: TestStack;
let nc: NatsConnection;
let tenant: TestTenant;

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ gateway: false, backup: true, env: { BACKUP_SCHEDULE_EVERY: '0' } }));
  tenant = await registerTenant(stack, nc);
  await seedTenant(tenant, 60, 40);
}, 60_000);

afterAll(async () => {
  await stopConnectedStack({ stack, nc });
});

async function tenantEventTypes(tenantId: string): Promise<string[]> {
  return (await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId))).events.map((e) => e.type);
}

/** The workspace as the data plane holds it: its schema (present or not) and its activation status. */
async function workspaceOf(t: TestTenant): Promise<{ schema: boolean; status: string; users: number }> {
  return withClient(t.url, async (c) => {
    const { rows } = await c.query<{ schema: boolean; status: string; users: number }>(
      `SELECT to_regnamespace($2) IS NOT NULL AS schema, w."activationStatus" AS status,
              (SELECT count(*)::int FROM core."userWorkspace" uw WHERE uw."workspaceId" = w.id) AS users
         FROM core.workspace w WHERE w.id = $1`,
      [t.tenantId, t.schema],
    );
    return rows[0]!;
  });
}

async function archiveAndWait(t: TestTenant, archiveId = randomUUID()): Promise<string> {
  await send(nc, ArchiveTenantWorkspace, {
    archiveId,
    tenantId: t.tenantId,
    reason: 'operator',
    actor: ADMIN,
    requestedAt: new Date().toISOString(),
  });
  await eventually(async () => ((await workspaceOf(t)).schema ? undefined : true), 60_000);
  return archiveId;
}

describe('archiving a tenant and bringing it back', () => {
  it('drops the workspace after a verified backup, and a restore brings back identical data', async () => {
    const before = await schemaChecksums(tenant.url, tenant.schema);
    const usersBefore = (await workspaceOf(tenant)).users;

    const archiveId = await archiveAndWait(tenant);
    expect(await workspaceOf(tenant)).toEqual({ schema: false, status: 'INACTIVE', users: usersBefore });
    expect(await tenantEventTypes(tenant.tenantId)).toContain('ttm.tenant.archived.v1');
    const backup = await untilEvent(jetstream(nc), archiveId, 'ttm.backup.verified.v1');
    expect(backup.data).toMatchObject({ result: 'ok' });
    // The archive lifted its freeze (a gateway answers tenant-archived from the tenant status instead).
    await eventually(async () => ((await freezeOf(nc, tenant.tenantId)) === undefined ? true : undefined));

    // Its archive backup is all there is of it: not deleted, whoever asks.
    await send(nc, DeleteBackup, { backupId: archiveId, actor: ADMIN, reason: 'cleanup' });
    const { end } = await restoreAndWait(nc, archiveId, { mode: 'in-place' }, 60_000);
    expect(end.type, JSON.stringify(end.data)).toBe('ttm.backup.restore-completed.v1');
    expect((await backupEvents(jetstream(nc), archiveId)).map((e) => e.type)).not.toContain('ttm.backup.deleted.v1');
    expect(await tenantEventTypes(tenant.tenantId)).toContain('ttm.tenant.unarchived.v1');
    expect(await workspaceOf(tenant)).toEqual({ schema: true, status: 'ACTIVE', users: usersBefore });
    expect(await schemaChecksums(tenant.url, tenant.schema)).toEqual(before);
  }, 120_000);

  it('refuses to archive a tenant that is archived already, and records the refusal on the operation', async () => {
    const other = await registerTenant(stack, nc);
    const archiveId = await archiveAndWait(other);
    const again = randomUUID();
    await send(nc, ArchiveTenantWorkspace, {
      archiveId: again,
      tenantId: other.tenantId,
      reason: 'operator',
      actor: ADMIN,
      requestedAt: new Date().toISOString(),
    });
    const refused = await untilEvent(jetstream(nc), again, 'ttm.backup.failed.v1');
    expect(refused.data).toMatchObject({ reason: expect.stringMatching(/archived/) });
    expect(archiveId).not.toBe(again);
  }, 120_000);
});
