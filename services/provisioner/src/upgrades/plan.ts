import { createHash } from 'node:crypto';
import { UpgradeSpec } from '@ttm/contracts';

/** What an operator asks for: spelled once, in the contracts (the gateway validates the same body). */
export { UpgradeSpec };

/**
 * The wave of each tenant: tenants in a stable pseudo-random order (a hash of upgrade and
 * tenant id, so a canary is not always the oldest tenants), cut at each wave's percentage of
 * the whole. A wave that rounds to no tenant still gets one while tenants are left.
 */
export function assignWaves(
  upgradeId: string,
  tenantIds: readonly string[],
  waves: UpgradeSpec['waves'],
): { tenantId: string; wave: number; ordinal: number }[] {
  const order = [...tenantIds].sort((a, b) => (rank(upgradeId, a) < rank(upgradeId, b) ? -1 : 1));
  const result: { tenantId: string; wave: number; ordinal: number }[] = [];
  let next = 0;
  waves.forEach((wave, index) => {
    const last = index === waves.length - 1;
    let end = last ? order.length : Math.min(order.length, Math.ceil((order.length * wave.percent) / 100));
    if (end <= next && next < order.length) end = next + 1;
    for (; next < end; next++) result.push({ tenantId: order[next] as string, wave: index, ordinal: next });
  });
  return result;
}

function rank(upgradeId: string, tenantId: string): string {
  return createHash('sha1').update(`${upgradeId}/${tenantId}`).digest('hex');
}

export interface WaveOutcome {
  wave: number;
  tenants: number;
  failed: number;
}

/** After a wave: go on, or pause with the reason an operator sees. */
export function judgeWave(outcome: WaveOutcome, policy: UpgradeSpec['failurePolicy']): string | undefined {
  if (outcome.failed === 0) return undefined;
  if (outcome.wave === 0 && policy.pauseOnCanaryFailure) {
    return `${outcome.failed} of ${outcome.tenants} canary tenants failed`;
  }
  const percent = (outcome.failed * 100) / Math.max(1, outcome.tenants);
  if (percent > policy.maxFailedPercent) {
    return `${outcome.failed} of ${outcome.tenants} tenants of wave ${outcome.wave + 1} failed (${percent.toFixed(1)} % > ${policy.maxFailedPercent} %)`;
  }
  return undefined;
}

/** Tenants per second so far and the seconds left at that rate (undefined before any finished). */
export function estimate(done: number, total: number, elapsedMs: number): { rate: number; etaSeconds?: number } {
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  return rate > 0 ? { rate, etaSeconds: Math.ceil((total - done) / rate) } : { rate };
}
