import type { BackupOperation } from '../backups/view.js';
import type { MigrationOperation } from '../migrations/view.js';
import type { DirectoryEntry, TenantStatus } from '../tenants/directory.js';
import type { UpgradeOperation } from '../upgrades/operation.js';

export type OperationStatus = 'pending' | 'running' | 'succeeded' | 'failed';

/** A long-running operation as every status route shows it, whatever its kind. */
export interface Operation {
  id: string;
  kind: 'provisioning';
  tenant_id: string;
  status: OperationStatus;
  progress: number;
  step: string | null;
  started_at: string;
  updated_at: string;
  result?: { tenant_id: string; slug: string };
  error?: string;
}

/** Any operation a status route can show: a provisioning, a backup, restore or verification, a migration, a fleet upgrade. */
export type AnyOperation = Operation | BackupOperation | MigrationOperation | UpgradeOperation;

/** The seed's provisioning status (`GET /api/auth/provisioning-status/{id}`). */
export interface ProvisioningState {
  provisioning_id: string;
  tenant_id: string;
  status: 'pending' | 'provisioning' | 'active' | 'failed';
  progress: number;
  step: string | null;
  slug: string | null;
  error?: string;
}

export interface OperationTimes {
  startedAt: string;
  updatedAt: string;
}

/** A provisioning is over once the tenant is active, suspended (it was active) or failed. */
const provisioningStatus: Record<TenantStatus, OperationStatus> = {
  pending: 'pending',
  provisioning: 'running',
  active: 'succeeded',
  suspended: 'succeeded',
  archived: 'succeeded',
  failed: 'failed',
};

export const isTerminal = (status: OperationStatus) => status === 'succeeded' || status === 'failed';

/** The provisioning of a directory entry as an operation. Pure. */
export function provisioningOperation(entry: DirectoryEntry, times: OperationTimes): Operation {
  const status = provisioningStatus[entry.status];
  return {
    id: entry.provisioningId,
    kind: 'provisioning',
    tenant_id: entry.tenantId,
    status,
    progress: status === 'succeeded' ? 100 : entry.progress,
    step: entry.step,
    started_at: times.startedAt,
    updated_at: times.updatedAt,
    ...(status === 'succeeded' && entry.slug ? { result: { tenant_id: entry.tenantId, slug: entry.slug } } : {}),
    ...(status === 'failed' ? { error: entry.error ?? 'provisioning failed' } : {}),
  };
}

/** The provisioning of a directory entry as the seed's status route shows it. Pure. */
export function provisioningState(entry: DirectoryEntry): ProvisioningState {
  const status = provisioningStatus[entry.status];
  return {
    provisioning_id: entry.provisioningId,
    tenant_id: entry.tenantId,
    status: status === 'succeeded' ? 'active' : status === 'running' ? 'provisioning' : status,
    progress: status === 'succeeded' ? 100 : entry.progress,
    step: entry.step,
    slug: entry.slug,
    ...(status === 'failed' ? { error: entry.error ?? 'provisioning failed' } : {}),
  };
}

/** A registration the provisioner has not recorded yet, as the seed's status route shows it. Pure. */
export function acceptedProvisioningState(accepted: { provisioningId: string; tenantId: string }): ProvisioningState {
  return {
    provisioning_id: accepted.provisioningId,
    tenant_id: accepted.tenantId,
    status: 'pending',
    progress: 0,
    step: null,
    slug: null,
  };
}

/** Whether a client watching the operation needs to hear about the change. */
export function operationChanged(before: AnyOperation | undefined, after: AnyOperation): boolean {
  return (
    before === undefined ||
    before.status !== after.status ||
    before.progress !== after.progress ||
    before.step !== after.step ||
    before.error !== after.error
  );
}
