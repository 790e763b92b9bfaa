import { ApiError, api } from './api.js';
import { confirmDialog, formatNumber, formatTime, h, progressBar, replace, statusBadge } from './dom.js';
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

/** Seconds left at the rate so far, while the upgrade can still move. */
export function etaOf(upgrade: LiveUpgrade): string {
  return upgrade.status === 'running' || upgrade.status === 'paused' ? formatEta(upgrade.etaSeconds) : '—';
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

type Wave = { percent: number; soakSeconds: number };

/**
 * `1:300, 10, 100` → a 1 % canary soaking 300 s, then 10 %, then the rest: cumulative percentages,
 * each with an optional soak in seconds. Pure; a string says what is wrong.
 */
export function parseWaves(text: string): Wave[] | string {
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (parts.length === 0) return 'give at least one wave, e.g. 100';
  const waves: Wave[] = [];
  for (const part of parts) {
    const match = /^(\d+(?:\.\d+)?)\s*%?\s*(?::\s*(\d+))?$/.exec(part);
    if (!match) return `"${part}" is not percent[:soak seconds]`;
    const percent = Number(match[1]);
    const previous = waves[waves.length - 1]?.percent ?? 0;
    if (percent <= previous || percent > 100) return `"${part}": percentages grow, up to 100`;
    waves.push({ percent, soakSeconds: Number(match[2] ?? 0) });
  }
  return waves;
}

/** The form that starts an upgrade (after a confirmation): version, waves, concurrency, filters. */
function startForm(live: LiveClient, message: HTMLElement): HTMLFormElement {
  const field = (id: string, label: string, control: HTMLElement, hint?: string) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      control,
      hint ? h('span', { class: 'muted small', id: `${id}-hint` }, hint) : null,
    );
  const version = h('input', { id: 'start-version', type: 'number', min: 1, step: 1, required: true });
  const waves = h('input', {
    id: 'start-waves',
    value: '1:300, 10, 100',
    required: true,
    'aria-describedby': 'start-waves-hint',
  });
  const concurrency = h(
    'select',
    { id: 'start-concurrency' },
    [4, 3, 2, 1].map((n) => h('option', { value: n }, String(n))),
  );
  const overview = live.state.overview;
  const choice = (id: string, plural: string, values: string[]) =>
    h(
      'select',
      { id },
      h('option', { value: '' }, `All ${plural}`),
      values.sort().map((value) => h('option', { value }, value)),
    );
  const region = choice('start-region', 'regions', Object.keys(overview?.tenants.by_region ?? {}));
  const plan = choice('start-plan', 'plans', Object.keys(overview?.tenants.by_plan ?? {}));
  const submit = h('button', { type: 'submit', class: 'primary', id: 'start-upgrade' }, 'Start upgrade…');
  const form = h(
    'form',
    { class: 'start-form', id: 'start-form', 'aria-labelledby': 'start-title' },
    field('start-version', 'Target version', version),
    field('start-waves', 'Waves', waves, 'Cumulative %, each with an optional soak in seconds: 1:300, 10, 100'),
    field('start-concurrency', 'Tenants at once per cluster', concurrency),
    field('start-region', 'Region', region),
    field('start-plan', 'Plan', plan),
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const parsed = parseWaves(waves.value);
    if (typeof parsed === 'string') {
      message.textContent = `Waves: ${parsed}.`;
      message.dataset.kind = 'error';
      waves.focus();
      return;
    }
    const filters = {
      ...(region.value ? { region: region.value } : {}),
      ...(plan.value ? { plan: plan.value } : {}),
    };
    const scope =
      Object.keys(filters).length === 0 ? 'every tenant' : `the tenants of ${Object.values(filters).join(', ')}`;
    const steps = parsed.map((w) => `${w.percent} %${w.soakSeconds ? ` then ${w.soakSeconds} s of soak` : ''}`);
    void confirmDialog(
      `Upgrade to version ${version.value}?`,
      `Moves ${scope} to schema version ${version.value} in ${parsed.length} ${parsed.length === 1 ? 'wave' : 'waves'} (${steps.join('; ')}), ${concurrency.value} at once per cluster. It pauses when a canary fails or more than 5 % of a wave fails.`,
      'Start upgrade',
    ).then(async (yes) => {
      if (!yes) return;
      submit.disabled = true;
      message.textContent = 'Starting the upgrade…';
      message.dataset.kind = 'pending';
      try {
        const accepted = await api<{ operation_id: string }>('/api/admin/upgrades', {
          method: 'POST',
          body: {
            targetVersion: Number(version.value),
            waves: parsed,
            filters,
            concurrencyPerCluster: Number(concurrency.value),
          },
        });
        replace(
          message,
          'Upgrade started: ',
          h(
            'a',
            { href: `/dashboard/upgrades/${accepted.operation_id}`, 'data-nav': '', id: 'started-link' },
            `follow it (${accepted.operation_id.slice(0, 8)})`,
          ),
          '.',
        );
        message.dataset.kind = 'ok';
      } catch (error) {
        message.textContent = `The upgrade did not start: ${error instanceof ApiError ? error.message : String(error)}`;
        message.dataset.kind = 'error';
      } finally {
        submit.disabled = false;
      }
    });
  });
  return form;
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
          etaOf(upgrade),
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

  const message = h('p', { class: 'action-message', id: 'start-message', role: 'status', 'aria-live': 'polite' });
  replace(
    main,
    h('h1', {}, 'Fleet upgrades'),
    h(
      'p',
      { class: 'muted' },
      'Workspace schema upgrades across the fleet, in waves. Open one for its tenants and to pause, resume, cancel or roll it back.',
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'start-title' },
      h('h2', { id: 'start-title' }, 'Start an upgrade'),
      startForm(live, message),
      message,
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
