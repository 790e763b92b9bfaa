import { assignWaves } from '@ttm/provisioner';

/**
 * The tenant a fleet upgrade changes first (its canary wave's first tenant), by the provisioner's
 * own wave rule, so a test can break that tenant before the upgrade starts.
 */
export function canaryOf(
  upgradeId: string,
  tenantIds: readonly string[],
  waves: Parameters<typeof assignWaves>[2],
): string {
  return assignWaves(upgradeId, tenantIds, waves).find((p) => p.wave === 0)!.tenantId;
}
