import { api } from './api.js';
import { formatNumber, formatTime, h, progressBar, replace, statusBadge } from './dom.js';
import type { LiveClient, LiveUpgrade } from './live.js';
import { table } from './overview.js';

export const TENANT_STATUSES = ['pending', 'running', 'ok', 'failed', 'skipped'] as const;

/** Tenants that finished one way or another, in percent of all. */
export function upgradeProgress(upgrade: LiveUpgrade): number {
  const { ok, failed, skipped } = upgrade.counts;
  if (upgrade.total === 0) return upgrade.status === 'completed' ? 100 : 0;
  return Math.floor(((ok + failed + skipped) * 100) / upgrade.total);
}

/** `2 of 3`: the wave running (or the last one done once it completed). */
export function waveLabel(upgrade: LiveUpgrade): string {
  const waves = upgrade.spec.waves.length;
  const current = upgrade.status === 'completed' ? waves : Math.min(upgrade.wavesDone + 1, waves);
  return `${current} of ${waves}`;
}

export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3_600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3_600)} h ${Math.floor((s % 3_600) / 60)} min`;
}

export const formatRate = (rate: number) => `${rate.toFixed(rate < 10 ? 1 : 0)} /s`;

export function upgradeProgressCell(upgrade: LiveUpgrade): HTMLElement {
  const progress = upgradeProgress(upgrade);
  return h(
    'div',
    { class: 'progress-cell', 'data-progress': progress },
    progressBar(progress, `Upgrade to version ${upgrade.targetVersion}, progress`),
    h('span', { class: 'progress-text' }, `${progress}%`),
  );
}

/**
 * The most recent fleet upgrades (rollbacks included), read once over REST and then kept current
 * by the live stream: counts, rate and ETA move on screen while an upgrade runs.
 */
export function mountUpgrades(main: HTMLElement, live: LiveClient): () => void {
  const upgrades = new Map<string, LiveUpgrade>();
  let closed = false;
  let generation = 0;
  const note = h('p', { class: 'muted', id: 'upgrades-note', 'aria-live': 'polite' }, 'Loading…');
  const list = h('div', { id: 'upgrade-list' });

  function render(): void {
    const rows = [...upgrades.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    note.textContent = rows.length === 0 ? '' : `The ${rows.length} most recent, newest first.`;
    replace(
      list,
      table(
        'Fleet upgrades',
        [
          'Upgrade',
          'Target',
          'Status',
          'Wave',
          ...TENANT_STATUSES.map(capitalized),
          'Progress',
          'Rate',
          'ETA',
          'Started',
        ],
        rows.map((upgrade) => [
          h(
            'a',
            {
              href: `/dashboard/upgrades/${upgrade.upgradeId}`,
              'data-nav': '',
              'data-upgrade': upgrade.upgradeId,
              class: 'mono',
            },
            upgrade.rollbackOf ? `${upgrade.upgradeId.slice(0, 8)} (rollback)` : upgrade.upgradeId.slice(0, 8),
          ),
          `v${upgrade.targetVersion}`,
          statusBadge(upgrade.status),
          waveLabel(upgrade),
          ...TENANT_STATUSES.map((status) => h('span', { 'data-count': status }, formatNumber(upgrade.counts[status]))),
          upgradeProgressCell(upgrade),
          formatRate(upgrade.rate),
          formatEta(upgrade.etaSeconds),
          formatTime(upgrade.createdAt),
        ]),
        'No fleet upgrade yet. Start one with `tenant-cli upgrade start` or POST /api/admin/upgrades.',
      ),
    );
  }

  async function reload(): Promise<void> {
    const mine = ++generation;
    try {
      const page = await api<{ items: LiveUpgrade[] }>('/api/admin/upgrades?limit=20');
      if (closed || mine !== generation) return;
      upgrades.clear();
      for (const upgrade of page.items) upgrades.set(upgrade.upgradeId, upgrade);
      render();
    } catch (error) {
      if (!closed && mine === generation) note.textContent = `Could not load upgrades: ${(error as Error).message}`;
    }
  }

  replace(
    main,
    h('h1', {}, 'Fleet upgrades'),
    h(
      'p',
      { class: 'muted' },
      'Workspace schema upgrades across the fleet, in waves. Open one for its tenants and to pause, resume, cancel or roll it back.',
    ),
    note,
    list,
  );
  void reload();
  const stop = live.subscribe((state, _tenants, resync, changed) => {
    if (resync && state.connections > 0) {
      void reload();
      return;
    }
    if (changed.length === 0) return;
    for (const upgrade of changed) upgrades.set(upgrade.upgradeId, upgrade);
    render();
  });
  return () => {
    closed = true;
    stop();
  };
}

/** Column and card labels of the tenant statuses: `OK`, `Pending`, … */
export function capitalized(word: string): string {
  return word === 'ok' ? 'OK' : `${word[0]!.toUpperCase()}${word.slice(1)}`;
}
