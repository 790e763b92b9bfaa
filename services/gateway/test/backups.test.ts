import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json, problem } from '../../../test/support/http.js';
import {
  eventually,
  startConnectedStack,
  stopConnectedStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from '../../../test/support/stack.js';
import { registerTenant, seedTenant, type TestTenant } from '../../../test/support/tenants.js';
import type { AcceptedOperation, BackupDetail, BackupItem } from '../src/features/backups/schemas.js';

/** Backups' and migrations' operations are shown to operators (and their tenant) only. */
const asOperator = { headers: { 'x-admin-key': TEST_ADMIN_KEY } };

let stack: TestStack;
let nc: NatsConnection;
let tenant: TestTenant;

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ backup: true, env: { BACKUP_SCHEDULE_EVERY: '0' } }));
  tenant = await registerTenant(stack, nc);
  await seedTenant(tenant, 50);
  // The gateway's directory follows the tenant events: wait until it has the tenant active.
  await eventually(async () => {
    const response = await admin(`/api/admin/tenants/${tenant.tenantId}`);
    return response.status === 200 && ((await response.json()) as { status: string }).status === 'active'
      ? true
      : undefined;
  }, 15_000);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

const admin = adminFetch(() => stack.url);

async function backupUntil(backupId: string, done: (b: BackupDetail) => boolean): Promise<BackupDetail> {
  return eventually(async () => {
    const response = await admin(`/api/admin/backups/${backupId}`);
    if (response.status !== 200) return undefined;
    const backup = (await response.json()) as BackupDetail;
    return done(backup) ? backup : undefined;
  }, 20_000);
}

describe('backup admin routes', () => {
  let backupId: string;

  it('refuses without the admin key', async () => {
    const response = await fetch(`${stack.url}/api/admin/tenants/${tenant.tenantId}/backups`, { method: 'POST' });
    expect((await problem(response, 401)).code).toBe('TTM_ADMIN_KEY_REQUIRED');
  });

  it('takes a backup: 202 with the operation, then completed, verified and listed', async () => {
    const response = await admin(`/api/admin/tenants/${tenant.tenantId}/backups`, { method: 'POST' });
    const accepted = await json<AcceptedOperation>(response, 202);
    expect(accepted.operation_id).toBe(accepted.backup_id);
    expect(response.headers.get('location')).toBe(`/api/operations/${accepted.operation_id}`);
    backupId = accepted.backup_id;

    const backup = await backupUntil(backupId, (b) => b.status === 'completed' && b.verification !== null);
    expect(backup).toMatchObject({ tenant_id: tenant.tenantId, trigger: 'on-demand', plan: 'pro' });
    expect(backup.verification).toMatchObject({ id: backupId, result: 'ok', mismatches: [] });
    expect(backup.manifest?.tables.find((t) => t.name === 'company')).toMatchObject({ scope: 'workspace', rows: 50 });
    expect(backup.size_bytes).toBe(backup.manifest?.totalBytes);

    const list = await json<{ items: BackupItem[] }>(await admin(`/api/admin/tenants/${tenant.tenantId}/backups`));
    expect(list.items.map((b) => b.id)).toContain(backupId);
    expect(list.items[0]).not.toHaveProperty('manifest');

    // The Location answers like any operation's, and its event stream ends at once: it is over.
    const operation = await json<Record<string, unknown>>(
      await fetch(`${stack.url}/api/operations/${backupId}`, asOperator),
    );
    expect(operation).toMatchObject({
      id: backupId,
      kind: 'backup',
      tenant_id: tenant.tenantId,
      backup_id: backupId,
      status: 'succeeded',
      progress: 100,
    });
    const events = await fetch(`${stack.url}/api/operations/${backupId}/events`, asOperator);
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(await events.text()).toMatch(/event: operation\ndata: .*"status":"succeeded"/);
  }, 30_000);

  it('names the same backup for the same Idempotency-Key', async () => {
    const key = randomUUID();
    const post = () =>
      admin(`/api/admin/tenants/${tenant.tenantId}/backups`, { method: 'POST', headers: { 'idempotency-key': key } });
    const first = await json<AcceptedOperation>(await post(), 202);
    const second = await json<AcceptedOperation>(await post(), 202);
    expect(second.backup_id).toBe(first.backup_id);
    await backupUntil(first.backup_id, (b) => b.status === 'completed');
    expect(
      (
        await problem(
          await admin(`/api/admin/tenants/${tenant.tenantId}/backups`, {
            method: 'POST',
            headers: { 'idempotency-key': ' ' },
          }),
          400,
        )
      ).code,
    ).toBe('TTM_INVALID_IDEMPOTENCY_KEY');
  }, 30_000);

  it('verifies on demand', async () => {
    const accepted = await json<AcceptedOperation>(
      await admin(`/api/admin/backups/${backupId}/verify`, { method: 'POST' }),
      202,
    );
    expect(accepted.verification_id).toBe(accepted.operation_id);
    const backup = await backupUntil(backupId, (b) => b.verifications.some((v) => v.id === accepted.verification_id));
    expect(backup.verification).toMatchObject({ id: accepted.verification_id, result: 'ok' });
  }, 30_000);

  it('restores into a clone with progress, and refuses what cannot be restored', async () => {
    const response = await admin(`/api/admin/tenants/${tenant.tenantId}/restore`, {
      method: 'POST',
      body: JSON.stringify({ backup_id: backupId, mode: 'clone' }),
    });
    const accepted = await json<AcceptedOperation>(response, 202);
    expect(accepted).toMatchObject({
      mode: 'clone',
      restore_id: accepted.operation_id,
      target_tenant_id: accepted.operation_id,
    });
    const backup = await backupUntil(backupId, (b) =>
      b.restores.some((r) => r.id === accepted.restore_id && r.status !== 'running'),
    );
    expect(backup.restores.find((r) => r.id === accepted.restore_id)).toMatchObject({
      status: 'completed',
      progress: 100,
      step: 'check',
    });

    const restore = (body: unknown, tenantId = tenant.tenantId) =>
      admin(`/api/admin/tenants/${tenantId}/restore`, { method: 'POST', body: JSON.stringify(body) });
    expect((await problem(await restore({ backup_id: backupId, mode: 'sideways' }), 400)).type).toBe(
      'https://ttm.dev/problems/validation',
    );
    expect((await problem(await restore({ backup_id: randomUUID(), mode: 'clone' }), 404)).code).toBe(
      'TTM_BACKUP_NOT_FOUND',
    );
    expect((await problem(await restore({ backup_id: backupId, mode: 'clone' }, randomUUID()), 404)).code).toBe(
      'TTM_TENANT_NOT_FOUND',
    );
    expect(
      (await problem(await restore({ backup_id: backupId, mode: 'in-place', target_tenant_id: randomUUID() }), 409))
        .code,
    ).toBe('TTM_RESTORE_TARGET_CONFLICT');
    expect(
      (await problem(await restore({ backup_id: backupId, mode: 'clone', target_tenant_id: tenant.tenantId }), 409))
        .code,
    ).toBe('TTM_RESTORE_TARGET_CONFLICT');
    // The tenant's data stays in its region: a restore or clone into another is refused.
    // registerTenant places the tenant in us-east-1.
    const home = 'us-east-1';
    const elsewhere = 'eu-west-1';
    for (const mode of ['clone', 'in-place']) {
      const refused = await problem(await restore({ backup_id: backupId, mode, target_region: elsewhere }), 409);
      expect(refused).toMatchObject({
        code: 'TTM_RESTORE_REGION_REFUSED',
        type: 'https://ttm.dev/problems/restore-region-refused',
        detail: expect.stringContaining(`stays in its region ${home}`),
      });
    }
  }, 30_000);

  it('deletes a backup once; a deleted backup is not restored or verified', async () => {
    const first = await admin(`/api/admin/backups/${backupId}`, { method: 'DELETE' });
    expect((await json<BackupItem>(first, 202)).id).toBe(backupId);
    await backupUntil(backupId, (b) => b.status === 'deleted');
    expect(
      (await json<BackupItem>(await admin(`/api/admin/backups/${backupId}`, { method: 'DELETE' }), 200)).status,
    ).toBe('deleted');
    expect((await problem(await admin(`/api/admin/backups/${backupId}/verify`, { method: 'POST' }), 409)).code).toBe(
      'TTM_BACKUP_STATE_CONFLICT',
    );
    const list = await json<{ items: BackupItem[] }>(await admin(`/api/admin/tenants/${tenant.tenantId}/backups`));
    expect(list.items.map((b) => b.id)).not.toContain(backupId);
    const all = await json<{ items: BackupItem[] }>(
      await admin(`/api/admin/tenants/${tenant.tenantId}/backups?include_deleted=true`),
    );
    expect(all.items.map((b) => b.id)).toContain(backupId);
  }, 30_000);

  it('answers 404 for what does not exist', async () => {
    expect((await problem(await admin(`/api/admin/backups/${randomUUID()}`), 404)).code).toBe('TTM_BACKUP_NOT_FOUND');
    expect(
      (await problem(await admin(`/api/admin/tenants/${randomUUID()}/backups`, { method: 'POST' }), 404)).code,
    ).toBe('TTM_TENANT_NOT_FOUND');
    expect((await problem(await admin(`/api/admin/tenants/${randomUUID()}/backups`), 404)).code).toBe(
      'TTM_TENANT_NOT_FOUND',
    );
  });
});
