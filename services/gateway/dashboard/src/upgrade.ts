import type { TenantUpgradeView, UpgradeView } from '@ttm/contracts';
import { ApiError, api } from './api.js';
import { confirmDialog, formatNumber, formatTime, h, replace, section, statusBadge } from './dom.js';
import type { LiveClient, LiveUpgrade } from './live.js';
import {
  capitalized,
  etaOf,
  formatEta,
  formatRate,
  TENANT_STATUSES,
  upgradeProgressCell,
  waveLabel,
} from './upgrades.js';
import { virtualList } from './vlist.js';

type Action = 'pause' | 'resume' | 'cancel' | 'rollback';
type TenantRows = 'all' | 'unfinished' | 'failed';

const ROW_HEIGHT = 40;
/**
 * An upgrade's tenants are read again at most once a second while it moves, and at most once per
 * ten times the last read took: 10,000 rows are about 1 MB, so a big upgrade is read less often.
 */
const TENANTS_EVERY_MS = 1_000;
const TENANTS_READ_SHARE = 10;

const actions: Record<Action, { label: string; question: string; consequence: string; allowed: string[] }> = {
  pause: {
    label: 'Pause',
    question: 'Pause this upgrade?',
    consequence: 'Tenants being upgraded now finish; no other tenant starts until you resume.',
    allowed: ['running'],
  },
  resume: {
    label: 'Resume',
    question: 'Resume this upgrade?',
    consequence:
      'The upgrade carries on with the next tenants. A wave the failure policy stopped is accepted with its failures, and a soak in progress ends.',
    allowed: ['paused'],
  },
  cancel: {
    label: 'Cancel',
    question: 'Cancel this upgrade?',
    consequence:
      'Tenants not started are skipped and the upgrade cannot be resumed. Tenants already upgraded stay upgraded (roll back to undo them).',
    allowed: ['running', 'paused'],
  },
  rollback: {
    label: 'Roll back',
    question: 'Roll this upgrade back?',
    consequence:
      'A new upgrade moves every tenant this one changed back to the version it came from, with the same waves.',
    allowed: ['paused', 'cancelled', 'completed'],
  },
};

function wavesText(upgrade: LiveUpgrade): string {
  return upgrade.spec.waves
    .map((wave) => `${wave.percent} %${wave.soakSeconds > 0 ? ` (soak ${formatEta(wave.soakSeconds)})` : ''}`)
    .join(' → ');
}

/**
 * One fleet upgrade: where it stands (moved by the live stream), its operator actions with a
 * confirmation each, and its tenants with their status and error in a virtual list.
 */
export function mountUpgrade(main: HTMLElement, live: LiveClient, upgradeId: string): () => void {
  let upgrade: LiveUpgrade | undefined;
  let closed = false;
  let rowsWanted: TenantRows = 'all';
  let tenantsRead = 0;
  let tenantsReadMs = 0;
  let tenantsTimer: ReturnType<typeof setTimeout> | undefined;
  let generation = 0;

  const title = h('h1', { id: 'upgrade-title' }, 'Fleet upgrade');
  const status = h('span', { id: 'upgrade-status' });
  const facts = h('dl', { class: 'facts', id: 'upgrade-facts' });
  const counts = h('div', { class: 'cards', id: 'upgrade-counts' });
  const progress = h('div', { id: 'upgrade-progress' });
  const message = h('p', { class: 'action-message', id: 'action-message', role: 'status', 'aria-live': 'polite' });
  const buttons = Object.fromEntries(
    (Object.keys(actions) as Action[]).map((action) => {
      const button = h(
        'button',
        { type: 'button', id: `upgrade-${action}`, class: action === 'pause' || action === 'resume' ? '' : 'danger' },
        actions[action].label,
      );
      button.addEventListener('click', () => void act(action));
      return [action, button];
    }),
  ) as Record<Action, HTMLButtonElement>;

  const filter = h(
    'select',
    { id: 'upgrade-tenant-filter', 'aria-label': 'Which tenants to show' },
    h('option', { value: 'all' }, 'All tenants'),
    h('option', { value: 'unfinished' }, 'Pending or running'),
    h('option', { value: 'failed' }, 'Failed'),
  );
  filter.addEventListener('change', () => {
    rowsWanted = filter.value as TenantRows;
    void readTenants();
  });
  const tenantCount = h('p', { class: 'muted', id: 'upgrade-tenant-count', 'aria-live': 'polite' });
  const tenants = virtualList<TenantUpgradeView>({
    id: 'upgrade-tenants',
    label: 'Tenants of this upgrade',
    className: 'vlist-upgrade',
    columns: ['Tenant', 'Wave', 'Status', 'Lock held', 'Error'],
    rowHeight: ROW_HEIGHT,
    row: (tenant) =>
      h(
        'div',
        { class: 'vlist-row', role: 'row', 'data-tenant': tenant.tenantId, 'data-status': tenant.status },
        h(
          'span',
          { role: 'cell', class: 'mono' },
          h('a', { href: `/dashboard/tenants/${tenant.tenantId}`, 'data-nav': '' }, tenant.tenantId),
        ),
        h('span', { role: 'cell' }, tenant.wave === 0 ? '0 (canary)' : String(tenant.wave)),
        h('span', { role: 'cell' }, statusBadge(tenant.status)),
        h('span', { role: 'cell' }, tenant.lockHeldMs === null ? '—' : `${Math.round(tenant.lockHeldMs)} ms`),
        h('span', { role: 'cell', class: 'error-cell', title: tenant.error ?? '' }, tenant.error ?? ''),
      ),
  });

  async function act(action: Action): Promise<void> {
    const { label, question, consequence } = actions[action];
    if (!(await confirmDialog(question, consequence, label))) return;
    message.textContent = `${label}…`;
    message.dataset.kind = 'pending';
    try {
      if (action === 'rollback') {
        const accepted = await api<{ operation_id: string }>(`/api/admin/upgrades/${upgradeId}/rollback`, {
          method: 'POST',
        });
        if (closed) return;
        replace(
          message,
          'Rollback started: ',
          h(
            'a',
            { href: `/dashboard/upgrades/${accepted.operation_id}`, 'data-nav': '', id: 'rollback-link' },
            `follow it (${accepted.operation_id.slice(0, 8)})`,
          ),
          '.',
        );
      } else {
        const answer = await api<UpgradeView>(`/api/admin/upgrades/${upgradeId}/${action}`, { method: 'POST' });
        if (closed) return;
        // The status badge shows the status from here on (a resume ends in completed).
        message.textContent = `${label}: done.`;
        show(answer);
      }
      message.dataset.kind = 'ok';
    } catch (error) {
      if (closed) return;
      message.textContent = `${label} failed: ${error instanceof ApiError ? error.message : String(error)}`;
      message.dataset.kind = 'error';
    }
  }

  /**
   * Show `next`, unless it is older than what is shown: a read that began before a pause, resume
   * or cancel (the live stream's, or the rows' GET) can answer after that action's own answer.
   * Every status change moves `updatedAt`, so a view with an earlier one never steps back.
   */
  function show(next: LiveUpgrade): boolean {
    if (upgrade && Date.parse(next.updatedAt) < Date.parse(upgrade.updatedAt)) return false;
    upgrade = next;
    const rollback = upgrade.rollbackOf;
    title.textContent = rollback
      ? `Rollback to version ${upgrade.targetVersion}`
      : `Upgrade to version ${upgrade.targetVersion}`;
    replace(status, statusBadge(upgrade.status));
    for (const action of Object.keys(actions) as Action[]) {
      buttons[action].disabled = !actions[action].allowed.includes(upgrade.status);
    }
    const { filters, failurePolicy } = upgrade.spec;
    const chosen = Object.entries(filters).map(([key, value]) => `${key} ${value}`);
    replace(
      facts,
      (
        [
          ['Id', h('span', { class: 'mono' }, upgrade.upgradeId)],
          [
            'Rolls back',
            rollback ? h('a', { href: `/dashboard/upgrades/${rollback}`, 'data-nav': '' }, rollback) : '—',
          ],
          ['Waves', wavesText(upgrade)],
          ['Wave now', waveLabel(upgrade)],
          [
            'Tenants',
            chosen.length > 0 ? `${formatNumber(upgrade.total)} (${chosen.join(', ')})` : formatNumber(upgrade.total),
          ],
          ['Concurrency', `${upgrade.spec.concurrencyPerCluster} per cluster`],
          [
            'Failure policy',
            `pause ${failurePolicy.pauseOnCanaryFailure ? 'when a canary fails or ' : ''}when more than ${failurePolicy.maxFailedPercent} % of a wave fails`,
          ],
          ['Why paused or cancelled', upgrade.statusReason ?? '—'],
          ['Started', formatTime(upgrade.createdAt)],
          ['Status changed', formatTime(upgrade.updatedAt)],
        ] as [string, string | HTMLElement][]
      ).map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]),
    );
    replace(
      counts,
      TENANT_STATUSES.map((name) =>
        h(
          'div',
          { class: 'card' },
          h('span', { class: 'card-label' }, capitalized(name)),
          h('span', { class: 'card-value', id: `upgrade-count-${name}` }, formatNumber(upgrade?.counts[name])),
        ),
      ),
      h(
        'div',
        { class: 'card' },
        h('span', { class: 'card-label' }, 'Rate'),
        h('span', { class: 'card-value', id: 'upgrade-rate' }, formatRate(upgrade.rate)),
      ),
      h(
        'div',
        { class: 'card' },
        h('span', { class: 'card-label' }, 'ETA'),
        h('span', { class: 'card-value', id: 'upgrade-eta' }, etaOf(upgrade)),
      ),
    );
    replace(progress, upgradeProgressCell(upgrade));
    return true;
  }

  /** Read the upgrade with the tenant rows the filter asks for. */
  async function readTenants(): Promise<void> {
    const mine = ++generation;
    tenantsRead = Date.now();
    try {
      const view = await api<UpgradeView>(`/api/admin/upgrades/${upgradeId}?tenants=${rowsWanted}`);
      tenantsReadMs = Date.now() - tenantsRead;
      if (closed || mine !== generation) return;
      // Read before the status changed: its rows are as old; read them again.
      if (!show(view)) {
        tenantsChanged();
        return;
      }
      tenants.setRows(view.tenants);
      const n = view.tenants.length;
      tenantCount.textContent = `${n.toLocaleString('en-US')} ${n === 1 ? 'tenant' : 'tenants'}`;
    } catch (error) {
      if (closed || mine !== generation) return;
      const text =
        error instanceof ApiError && error.status === 404
          ? 'No upgrade has this id.'
          : `Could not load the upgrade: ${(error as Error).message}`;
      tenantCount.textContent = text;
    }
  }

  /** The stream moved the counts: read the rows again, no more often than the rules above allow. */
  function tenantsChanged(): void {
    if (tenantsTimer !== undefined) return;
    const every = Math.max(TENANTS_EVERY_MS, tenantsReadMs * TENANTS_READ_SHARE);
    const wait = Math.max(0, tenantsRead + every - Date.now());
    tenantsTimer = setTimeout(() => {
      tenantsTimer = undefined;
      void readTenants();
    }, wait);
  }

  replace(
    main,
    h('p', {}, h('a', { href: '/dashboard/upgrades', 'data-nav': '' }, '← All upgrades')),
    h('div', { class: 'title-row' }, title, status),
    section(
      'Actions',
      'upgrade-actions-title',
      h('div', { class: 'actions' }, buttons.pause, buttons.resume, buttons.cancel, buttons.rollback),
      message,
    ),
    section('Progress', 'upgrade-progress-title', counts, progress),
    section('Upgrade', 'upgrade-facts-title', facts),
    section('Tenants', 'upgrade-tenants-title', h('div', { class: 'filters' }, filter), tenantCount, tenants.element),
  );
  for (const button of Object.values(buttons)) button.disabled = true;
  const unmountList = tenants.mount();
  void readTenants();

  const stop = live.subscribe((state, _tenants, resync, changed) => {
    const mine = changed.find((item) => item.upgradeId === upgradeId);
    if (mine) {
      show(mine);
      tenantsChanged();
    } else if (resync && state.connections > 0) tenantsChanged();
  });
  return () => {
    closed = true;
    generation++;
    clearTimeout(tenantsTimer);
    stop();
    unmountList();
  };
}
