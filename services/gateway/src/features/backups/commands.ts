import { randomUUID } from 'node:crypto';
import { CreateBackup, DeleteBackup, encodeMessage, RestoreBackup, Subjects, VerifyBackup } from '@ttm/contracts';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { derivedUuid, parseIdempotencyKey } from '../../idempotency.js';
import { adminActorOf } from '../../plugins/adminAuth.js';
import { InvalidIdempotencyKey } from '../../problems.js';
import { TenantNotFound, TenantStateConflict } from '../tenants/problems.js';
import type { BackupIndex } from './backupIndex.js';
import { BackupNotFound, BackupStateConflict, RestoreRegionRefused, RestoreTargetConflict } from './problems.js';
import type { AcceptedOperation, BackupDetail, RestoreBody } from './schemas.js';
import { type BackupView, backupViewOf } from './view.js';

const SOURCE = '/ttm/gateway';

/**
 * The id of what a POST starts: derived from its `Idempotency-Key` when it has one (so a retry
 * names the same backup, restore or verification, and the backup service does it once), else new.
 */
function operationIdOf(request: FastifyRequest, ...scope: string[]): string {
  const key = parseIdempotencyKey(request.headers['idempotency-key']);
  if (key === null) throw new InvalidIdempotencyKey();
  return key === undefined ? randomUUID() : derivedUuid('backup-route', ...scope, key);
}

type Audit = (outcome: 'success' | 'failure', detail: string | null) => Promise<void>;

function auditor(
  deps: GatewayDeps,
  request: FastifyRequest,
  action: string,
  tenantId: string,
  target: { kind: string; id: string },
): Audit {
  return (outcome, detail) =>
    deps.audit.record({ actor: adminActorOf(request), action, scope: tenantId, target, outcome, detail }, request);
}

/** A tenant that has data to back up or restore into: provisioned, active or suspended. */
function requireProvisionedTenant(deps: GatewayDeps, tenantId: string, action: string) {
  const entry = deps.directory.get(tenantId);
  if (!entry) throw new TenantNotFound(tenantId);
  if (entry.status !== 'active' && entry.status !== 'suspended') {
    throw new TenantStateConflict(tenantId, entry.status, action, 'active or suspended');
  }
  return entry;
}

/** `POST /api/admin/tenants/{id}/backups`: publish the command; the backup service does the rest. */
export async function requestBackup(
  deps: GatewayDeps,
  request: FastifyRequest,
  tenantId: string,
): Promise<AcceptedOperation> {
  requireProvisionedTenant(deps, tenantId, 'backed up');
  const backupId = operationIdOf(request, 'create', tenantId);
  await publishMessage(
    deps.js,
    CreateBackup.subject,
    encodeMessage(
      CreateBackup,
      { backupId, tenantId, trigger: 'on-demand', actor: adminActorOf(request), requestedAt: new Date().toISOString() },
      { source: SOURCE, subject: backupId },
    ),
  );
  await auditor(deps, request, 'backup-requested', tenantId, { kind: 'backup', id: backupId })('success', null);
  return { operation_id: backupId, backup_id: backupId };
}

/** A backup's full view, read from its events (the index does not keep manifests). */
export async function showBackup(
  deps: GatewayDeps,
  index: BackupIndex,
  backupId: string,
  graceMs: number,
): Promise<BackupDetail> {
  const { events } = await readAggregate(deps.js, Subjects.backupEvents(backupId));
  let view = backupViewOf(events);
  if (!view) {
    // Just requested: the backup service has not recorded it yet.
    if (!(await index.waitFor(backupId, (v) => v !== undefined, graceMs))) throw new BackupNotFound(backupId);
    view = backupViewOf((await readAggregate(deps.js, Subjects.backupEvents(backupId))).events);
    if (!view) throw new BackupNotFound(backupId);
  }
  return detailOf(view);
}

export function detailOf(view: BackupView): BackupDetail {
  return view as BackupDetail;
}

/** `DELETE /api/admin/backups/{id}`: 200 if already deleted, else 202 once the command is out. */
export async function requestDeletion(
  deps: GatewayDeps,
  index: BackupIndex,
  request: FastifyRequest,
  backupId: string,
): Promise<{ code: 200 | 202; backup: BackupView }> {
  await index.ready;
  const view = index.get(backupId);
  if (!view) throw new BackupNotFound(backupId);
  const audit = auditor(deps, request, 'backup-deleted', view.tenant_id, { kind: 'backup', id: backupId });
  if (view.status === 'deleted') return { code: 200, backup: view };
  if (view.status === 'running' || view.restores.some((r) => r.status === 'running')) {
    const state = view.status === 'running' ? 'running' : 'being restored';
    await audit('failure', `backup is ${state}`);
    throw new BackupStateConflict(backupId, state, 'deleted');
  }
  await publishMessage(
    deps.js,
    DeleteBackup.subject,
    encodeMessage(DeleteBackup, { backupId, actor: adminActorOf(request) }, { source: SOURCE, subject: backupId }),
  );
  await audit('success', null);
  return { code: 202, backup: view };
}

function requireGoodBackup(view: BackupView | undefined, backupId: string, action: string): BackupView {
  if (!view) throw new BackupNotFound(backupId);
  if (view.status !== 'completed') throw new BackupStateConflict(backupId, view.status, action);
  return view;
}

/** `POST /api/admin/backups/{id}/verify`. */
export async function requestVerification(
  deps: GatewayDeps,
  index: BackupIndex,
  request: FastifyRequest,
  backupId: string,
): Promise<AcceptedOperation> {
  await index.ready;
  const view = requireGoodBackup(index.get(backupId), backupId, 'verified');
  const verificationId = operationIdOf(request, 'verify', backupId);
  await publishMessage(
    deps.js,
    VerifyBackup.subject,
    encodeMessage(
      VerifyBackup,
      { backupId, verificationId, actor: adminActorOf(request) },
      { source: SOURCE, subject: backupId },
    ),
  );
  await auditor(deps, request, 'backup-verify-requested', view.tenant_id, { kind: 'backup', id: backupId })(
    'success',
    null,
  );
  return { operation_id: verificationId, backup_id: backupId, verification_id: verificationId };
}

/** `POST /api/admin/tenants/{id}/restore`. */
export async function requestRestore(
  deps: GatewayDeps,
  index: BackupIndex,
  request: FastifyRequest,
  tenantId: string,
  body: RestoreBody,
): Promise<AcceptedOperation> {
  const audit = auditor(deps, request, 'restore-requested', tenantId, { kind: 'backup', id: body.backup_id });
  const tenant =
    body.mode === 'in-place'
      ? requireProvisionedTenant(deps, tenantId, 'restored in place')
      : deps.directory.get(tenantId);
  if (!tenant) throw new TenantNotFound(tenantId);
  if (body.target_region && body.target_region !== tenant.region) {
    await audit('failure', `restore into region ${body.target_region}, tenant is in ${tenant.region}`);
    throw new RestoreRegionRefused(tenantId, tenant.region, body.target_region);
  }
  await index.ready;
  const view = index.get(body.backup_id);
  if (!view || view.tenant_id !== tenantId) throw new BackupNotFound(body.backup_id);
  requireGoodBackup(view, body.backup_id, 'restored');
  const restoreId = operationIdOf(request, 'restore', tenantId, body.backup_id, body.mode);
  let targetTenantId = tenantId;
  if (body.mode === 'clone') {
    targetTenantId = body.target_tenant_id ?? restoreId;
    if (targetTenantId === tenantId || deps.directory.get(targetTenantId)) {
      await audit('failure', `clone target ${targetTenantId} is a tenant already`);
      throw new RestoreTargetConflict(`tenant ${targetTenantId} exists already; a clone needs a new tenant id`);
    }
  } else if (body.target_tenant_id && body.target_tenant_id !== tenantId) {
    await audit('failure', 'in-place restore into another tenant');
    throw new RestoreTargetConflict(
      'an in-place restore goes to the tenant itself; use mode "clone" for another tenant id',
    );
  }
  await publishMessage(
    deps.js,
    RestoreBackup.subject,
    encodeMessage(
      RestoreBackup,
      {
        backupId: body.backup_id,
        restoreId,
        mode: body.mode,
        ...(body.mode === 'clone' ? { targetTenantId } : {}),
        ...(body.target_region ? { targetRegion: body.target_region } : {}),
        actor: adminActorOf(request),
        requestedAt: new Date().toISOString(),
      },
      { source: SOURCE, subject: body.backup_id },
    ),
  );
  await audit('success', `${body.mode} into ${targetTenantId}`);
  return {
    operation_id: restoreId,
    backup_id: body.backup_id,
    restore_id: restoreId,
    mode: body.mode,
    target_tenant_id: targetTenantId,
  };
}
