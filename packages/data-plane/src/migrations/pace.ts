/**
 * Tenants started per second per cluster when neither the upgrade request nor the service's
 * configuration says otherwise: well above the 11 tenants/s that upgrades 10,000 workspaces in
 * 15 minutes, well under what 4 workers do unpaced (which starve tenants' queries of CPU).
 */
export const DEFAULT_UPGRADE_TENANTS_PER_SECOND = 15;

/**
 * A cap on how many tenants an upgrade starts per second on one cluster: each start takes the
 * next slot, slots 1/rate apart. Unused time is not saved up (a slot is never earlier than
 * now), so after a pause the upgrade does not burst. A rate of 0 or Infinity is no cap.
 */
export class UpgradePace {
  private nextAt = Number.NEGATIVE_INFINITY;
  private readonly gapMs: number;

  constructor(readonly tenantsPerSecond: number) {
    this.gapMs = tenantsPerSecond > 0 && Number.isFinite(tenantsPerSecond) ? 1000 / tenantsPerSecond : 0;
  }

  /** Take the next slot at `now` (ms): how long to wait before starting the tenant. */
  take(now: number): number {
    if (this.gapMs === 0) return 0;
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + this.gapMs;
    return at - now;
  }

  /** Wait for the next slot (returns at once when uncapped or the signal is aborted). */
  async wait(signal?: AbortSignal): Promise<void> {
    const delay = this.take(performance.now());
    if (delay <= 0 || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, delay);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
