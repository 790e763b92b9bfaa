import type { TenantUpgradeStatus, UpgradeView } from '@ttm/contracts';

/** A fleet upgrade as `/api/operations/{id}` shows it (kind `upgrade`): operators only. */
export interface UpgradeOperation {
  id: string;
  kind: 'upgrade';
  /** A fleet upgrade is about no single tenant. */
  tenant_id: null;
  status: 'running' | 'succeeded' | 'failed';
  progress: number;
  /** `wave 2 of 3`, `paused`, `cancelled`, `completed`. */
  step: string | null;
  started_at: string;
  updated_at: string;
  result?: { target_version: number; counts: Record<TenantUpgradeStatus, number>; rollback_of: string | null };
  error?: string;
  counts: Record<TenantUpgradeStatus, number>;
  tenants: { tenant_id: string; wave: number; status: TenantUpgradeStatus; error: string | null }[];
}

/**
 * The upgrade as an operation. Pure. Running and paused are both `running` (a paused upgrade
 * waits for its operator, the `step` says so); completed is `succeeded`, even with failed
 * tenants the failure policy accepted (the counts show them); cancelled is `failed`.
 */
export function upgradeOperation(view: UpgradeView): UpgradeOperation {
  const { counts, total } = view;
  const finished = counts.ok + counts.failed + counts.skipped;
  const waves = view.spec.waves.length;
  const status = view.status === 'completed' ? 'succeeded' : view.status === 'cancelled' ? 'failed' : 'running';
  const step =
    view.status === 'running'
      ? `wave ${Math.min(view.wavesDone + 1, waves)} of ${waves}`
      : view.status === 'paused'
        ? `paused${view.statusReason ? `: ${view.statusReason}` : ''}`
        : view.status;
  return {
    id: view.upgradeId,
    kind: 'upgrade',
    tenant_id: null,
    status,
    progress: total === 0 ? (status === 'succeeded' ? 100 : 0) : Math.floor((finished * 100) / total),
    step,
    started_at: view.createdAt,
    updated_at: view.updatedAt,
    ...(status === 'succeeded'
      ? { result: { target_version: view.targetVersion, counts, rollback_of: view.rollbackOf } }
      : {}),
    ...(status === 'failed' ? { error: view.statusReason ?? 'cancelled' } : {}),
    counts,
    tenants: view.tenants.map((t) => ({ tenant_id: t.tenantId, wave: t.wave, status: t.status, error: t.error })),
  };
}
