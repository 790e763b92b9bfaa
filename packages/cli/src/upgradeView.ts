import { InvalidArgumentError } from 'commander';
import type { Upgrade } from './api.js';
import { formatDuration } from './time.js';

/** `--waves 1,10,100` with `--soak 60`: cumulative percentages, each wave but the last soaked. */
export function wavesOf(text: string, soakSeconds: number): { percent: number; soakSeconds: number }[] {
  const percents = text.split(',').map((p) => Number(p.trim()));
  if (percents.length === 0 || percents.some((p) => !Number.isFinite(p) || p <= 0 || p > 100)) {
    throw new InvalidArgumentError('expected cumulative percentages above 0 and at most 100, e.g. 1,10,100');
  }
  if (percents.some((p, i) => i > 0 && p <= (percents[i - 1] ?? 0))) {
    throw new InvalidArgumentError('expected each wave to reach more tenants than the one before, e.g. 1,10,100');
  }
  return percents.map((percent, i) => ({ percent, soakSeconds: i === percents.length - 1 ? 0 : soakSeconds }));
}

/** How much of the upgrade is done, 0..100 (skipped tenants count as done). */
export function percentDone(upgrade: Upgrade): number {
  const { ok, failed, skipped } = upgrade.counts;
  if (upgrade.total === 0) return upgrade.status === 'completed' ? 100 : 0;
  return Math.floor(((ok + failed + skipped) * 100) / upgrade.total);
}

/** `wave 2/3 · 120 ok · 1 failed · 4 running · 875 pending · 12.3/s · ETA 1 m 10 s`: one line of progress. */
export function progressLine(upgrade: Upgrade): string {
  const { counts } = upgrade;
  const waves = upgrade.spec.waves.length;
  const parts = [
    upgrade.status === 'running' ? `wave ${Math.min(upgrade.wavesDone + 1, waves)}/${waves}` : upgrade.status,
    `${counts.ok} ok`,
    ...(counts.failed ? [`${counts.failed} failed`] : []),
    ...(counts.skipped ? [`${counts.skipped} skipped`] : []),
    ...(counts.running ? [`${counts.running} running`] : []),
    ...(counts.pending ? [`${counts.pending} pending`] : []),
  ];
  if (upgrade.rate > 0) parts.push(`${upgrade.rate.toFixed(1)}/s`);
  if (upgrade.status === 'running' && upgrade.etaSeconds !== undefined) {
    parts.push(`ETA ${formatDuration(upgrade.etaSeconds * 1000)}`);
  }
  return parts.join(' · ');
}

/** Whether `status --watch` stops: the upgrade completed, was cancelled, or waits for an operator. */
export const upgradeSettled = (upgrade: Upgrade) => upgrade.status !== 'running';
