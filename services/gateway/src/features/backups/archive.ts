import { randomUUID } from 'node:crypto';
import { ArchiveTenantWorkspace, encodeMessage, RestoreBackup } from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { derivedUuid, parseIdempotencyKey } from '../../idempotency.js';
import { adminActorOf } from '../../plugins/adminAuth.js';
import { InvalidIdempotencyKey } from '../../problems.js';
import type { DirectoryEntry } from '../tenants/directory.js';
import { TenantNotFound, TenantStateConflict } from '../tenants/problems.js';
import type { AcceptedOperation } from './schemas.js';

const SOURCE = '/ttm/gateway';

type Actor = ReturnType<typeof adminActorOf>;

/**
 * `POST /api/admin/tenants/{id}/archive`: the backup service archives the tenant (freeze, verified
 * backup, recorded archived, schema dropped). The operation is the archive's backup (same id).
 */
export async function requestArchive(
  deps: GatewayDeps,
  request: FastifyRequest,
  tenantId: string,
): Promise<AcceptedOperation> {
  const tenant = deps.directory.get(tenantId);
  if (!tenant) throw new TenantNotFound(tenantId);
  if (tenant.status !== 'active') throw new TenantStateConflict(tenantId, tenant.status, 'archived', 'active');
  const key = parseIdempotencyKey(request.headers['idempotency-key']);
  if (key === null) throw new InvalidIdempotencyKey();
  const archiveId = key === undefined ? randomUUID() : derivedUuid('archive-route', tenantId, key);
  const actor = adminActorOf(request);
  await publishMessage(
    deps.js,
    ArchiveTenantWorkspace.subject,
    encodeMessage(
      ArchiveTenantWorkspace,
      { archiveId, tenantId, reason: 'operator', actor, requestedAt: new Date().toISOString() },
      { source: SOURCE, subject: tenantId, id: `archive/${archiveId}` },
    ),
  );
  await deps.audit.record(
    {
      actor,
      action: 'archive-requested',
      scope: tenantId,
      target: { kind: 'tenant', id: tenantId },
      outcome: 'success',
      detail: null,
    },
    request,
  );
  return { operation_id: archiveId, backup_id: archiveId };
}

/**
 * Bring an archived tenant back: an in-place restore of its archive's verified backup. The
 * restore id is derived from that backup, so every sign-in (and an operator) asking while it runs
 * names the same operation, and JetStream drops the repeated command within its duplicate window;
 * a later repeat finds the restore recorded and does nothing.
 */
export async function startUnarchive(
  deps: Pick<GatewayDeps, 'js'>,
  tenant: DirectoryEntry,
  actor: Actor | { kind: 'user'; id: string },
): Promise<AcceptedOperation> {
  const backupId = tenant.archiveBackupId;
  if (tenant.status !== 'archived' || !backupId) {
    throw new TenantStateConflict(tenant.tenantId, tenant.status, 'unarchived', 'archived');
  }
  const restoreId = unarchiveIdOf(backupId);
  await publishMessage(
    deps.js,
    RestoreBackup.subject,
    encodeMessage(
      RestoreBackup,
      { backupId, restoreId, mode: 'in-place', actor, requestedAt: new Date().toISOString() },
      { source: SOURCE, subject: backupId, id: `unarchive/${restoreId}` },
    ),
  );
  return {
    operation_id: restoreId,
    backup_id: backupId,
    restore_id: restoreId,
    mode: 'in-place',
    target_tenant_id: tenant.tenantId,
  };
}

/** The restore that brings back the tenant archived in `backupId`: one per archive. */
export function unarchiveIdOf(backupId: string): string {
  return derivedUuid('unarchive', backupId);
}

/** `POST /api/admin/tenants/{id}/unarchive`. */
export async function requestUnarchive(
  deps: GatewayDeps,
  request: FastifyRequest,
  tenantId: string,
): Promise<AcceptedOperation> {
  const tenant = deps.directory.get(tenantId);
  if (!tenant) throw new TenantNotFound(tenantId);
  const actor = adminActorOf(request);
  const accepted = await startUnarchive(deps, tenant, actor);
  await deps.audit.record(
    {
      actor,
      action: 'unarchive-requested',
      scope: tenantId,
      target: { kind: 'tenant', id: tenantId },
      outcome: 'success',
      detail: null,
    },
    request,
  );
  return accepted;
}
