import type { JetStreamClient } from '@nats-io/jetstream';
import { changeWorkspaceVersion, type Placement, type VersionChanged } from '@ttm/data-plane';
import type { DataPlane } from '../dataPlane/dataPlane.js';
import { executeTenantCommand } from '../tenant/saga.js';

export interface TenantUpgrade {
  tenantId: string;
  upgradeId: string;
  placement: Placement;
  /** The version the upgrade found the tenant at when it was planned. */
  from: number;
  to: number;
}

/**
 * One tenant's schema change: the data plane moves in one transaction (lock_timeout 2 s per
 * attempt, retried), then the tenant decider records it on the tenant's stream. Run again
 * after a crash between the two, the data plane answers "already" and the decider records the
 * change it had not recorded yet; run again after both, nothing happens.
 */
export async function upgradeTenant(
  deps: { js: JetStreamClient; dataPlane: DataPlane },
  upgrade: TenantUpgrade,
): Promise<VersionChanged> {
  const pool = await deps.dataPlane.poolOf(upgrade.placement);
  const changed = await changeWorkspaceVersion(pool, { workspaceId: upgrade.tenantId, to: upgrade.to });
  await executeTenantCommand(deps, upgrade.tenantId, {
    kind: 'UpgradeSchema',
    upgradeId: upgrade.upgradeId,
    from: changed.outcome === 'already' ? upgrade.from : changed.from,
    to: upgrade.to,
    lockHeldMs: changed.lockHeldMs,
    at: new Date(),
  });
  return changed;
}
