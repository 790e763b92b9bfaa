import type { TenantListItem } from '@ttm/contracts';
import { ApiError, api } from './api.js';
import { formatBytes, formatNumber, formatTime, h, replace, section, statusBadge } from './dom.js';
import type { LiveClient, LiveOperation } from './live.js';
import { operationRows } from './overview.js';

interface TenantDetail extends TenantListItem {
  placement: Record<string, unknown> | null;
  suspended_reason: string | null;
  timeline: { seq: number; type: string; time: string; data: Record<string, unknown> }[];
}

interface QuotaReport {
  enforced: boolean;
  updated_at: string | null;
  quotas: { quota: string; limit: number; used: number; remaining: number; state: string; overridden: boolean }[];
}

interface UsageReport {
  windows: { meter: string; window_start: string; value: number; closed: boolean }[];
}

interface BackupItem {
  id: string;
  status: string;
  created_at: string;
  size_bytes: number | null;
  rows: number | null;
}

const REGIONS_FALLBACK = ['us-east-1', 'eu-west-1'];

/** One tenant: record, live status and operations, actions, quotas, usage, backups, placement, timeline. */
export function mountTenant(main: HTMLElement, live: LiveClient, tenantId: string): () => void {
  let detail: TenantDetail | undefined;
  let closed = false;
  /** Operations this page started, shown at once from the API's answer, then moved by the stream. */
  const started = new Map<string, LiveOperation>();

  const title = h('h1', { id: 'tenant-title' }, 'Tenant');
  const status = h('span', { id: 'tenant-status' });
  const facts = h('dl', { class: 'facts', id: 'tenant-facts' });
  const message = h('p', { class: 'action-message', id: 'action-message', role: 'status', 'aria-live': 'polite' });
  const operations = h('div', { id: 'tenant-operations' });
  const quotas = h('div', { id: 'tenant-quotas' }, h('p', { class: 'muted' }, 'Loading…'));
  const usage = h('div', { id: 'tenant-usage' }, h('p', { class: 'muted' }, 'Loading…'));
  const backups = h('div', { id: 'tenant-backups' }, h('p', { class: 'muted' }, 'Loading…'));
  const placement = h('div', { id: 'tenant-placement' });
  const timeline = h('div', { id: 'tenant-timeline' });

  const act = async (label: string, call: () => Promise<unknown>, operationOf?: (answer: unknown) => LiveOperation) => {
    message.textContent = `${label}…`;
    message.dataset.kind = 'pending';
    try {
      const answer = await call();
      if (closed) return;
      message.textContent = `${label}: accepted.`;
      message.dataset.kind = 'ok';
      if (operationOf) {
        const operation = operationOf(answer);
        started.set(operation.id, operation);
        renderOperations();
      }
      void refresh();
    } catch (error) {
      if (closed) return;
      message.textContent = `${label} failed: ${error instanceof ApiError ? error.message : String(error)}`;
      message.dataset.kind = 'error';
    }
  };
  const pendingOperation = (kind: LiveOperation['kind']) => (answer: unknown) => {
    const id = (answer as { operation_id: string }).operation_id;
    const now = new Date().toISOString();
    return {
      id,
      kind,
      tenant_id: tenantId,
      status: 'pending' as const,
      progress: 0,
      step: null,
      started_at: now,
      updated_at: now,
    };
  };

  // Actions: each is a form or a button, all reachable with Tab and submitted with Enter.
  const reason = h('input', {
    id: 'suspend-reason',
    required: true,
    maxlength: 500,
    'aria-label': 'Suspension reason',
  });
  const suspendForm = h(
    'form',
    { class: 'action', id: 'suspend-form' },
    h('label', { for: 'suspend-reason' }, 'Reason'),
    reason,
    h('button', { type: 'submit', class: 'danger', id: 'suspend' }, 'Suspend'),
  );
  suspendForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void act('Suspend', async () => {
      await api(`/api/admin/tenants/${tenantId}/suspend`, { method: 'POST', body: { reason: reason.value } });
      reason.value = '';
    });
  });
  const activate = h('button', { type: 'button', id: 'activate' }, 'Activate');
  activate.addEventListener('click', () => {
    void act('Activate', () => api(`/api/admin/tenants/${tenantId}/activate`, { method: 'POST' }));
  });
  const backup = h('button', { type: 'button', id: 'backup' }, 'Back up now');
  backup.addEventListener('click', () => {
    void act(
      'Backup',
      () => api(`/api/admin/tenants/${tenantId}/backups`, { method: 'POST' }),
      pendingOperation('backup'),
    );
  });
  const restoreSelect = h('select', { id: 'restore-backup', 'aria-label': 'Backup to restore' });
  const restoreForm = h(
    'form',
    { class: 'action', id: 'restore-form' },
    h('label', { for: 'restore-backup' }, 'Restore'),
    restoreSelect,
    h('button', { type: 'submit', id: 'restore' }, 'Restore in place'),
  );
  restoreForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!restoreSelect.value) return;
    void act(
      'Restore',
      () =>
        api(`/api/admin/tenants/${tenantId}/restore`, {
          method: 'POST',
          body: { backup_id: restoreSelect.value, mode: 'in-place' },
        }),
      pendingOperation('restore'),
    );
  });
  const regions = Object.keys(live.state.overview?.tenants.by_region ?? {});
  const migrateSelect = h(
    'select',
    { id: 'migrate-region', 'aria-label': 'Target region' },
    [...new Set([...regions, ...REGIONS_FALLBACK])].sort().map((name) => h('option', { value: name }, name)),
  );
  const migrateForm = h(
    'form',
    { class: 'action', id: 'migrate-form' },
    h('label', { for: 'migrate-region' }, 'Migrate to'),
    migrateSelect,
    h('button', { type: 'submit', id: 'migrate' }, 'Migrate'),
  );
  migrateForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void act(
      'Migration',
      () =>
        api(`/api/admin/tenants/${tenantId}/migrate`, { method: 'POST', body: { target_region: migrateSelect.value } }),
      pendingOperation('migration'),
    );
  });
  const quotaName = h(
    'select',
    { id: 'quota-name', 'aria-label': 'Quota' },
    ['api_calls_per_month', 'storage_bytes', 'users'].map((name) => h('option', { value: name }, name)),
  );
  const quotaLimit = h('input', {
    id: 'quota-limit',
    type: 'number',
    min: 1,
    step: 1,
    required: true,
    'aria-label': 'New limit',
  });
  const quotaForm = h(
    'form',
    { class: 'action', id: 'quota-form' },
    h('label', { for: 'quota-name' }, 'Override'),
    quotaName,
    quotaLimit,
    h('button', { type: 'submit', id: 'quota-override' }, 'Set limit'),
  );
  quotaForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void act('Quota override', () =>
      api(`/api/admin/tenants/${tenantId}/quotas`, {
        method: 'PUT',
        body: { [quotaName.value]: Number(quotaLimit.value) },
      }),
    );
  });

  replace(
    main,
    h('p', {}, h('a', { href: '/dashboard/tenants', 'data-nav': '' }, '← All tenants')),
    h('div', { class: 'title-row' }, title, status),
    section(
      'Actions',
      'actions-title',
      h('div', { class: 'actions' }, suspendForm, activate, backup, restoreForm, migrateForm, quotaForm),
      message,
    ),
    section('Operations', 'tenant-operations-title', operations),
    h(
      'div',
      { class: 'grid-2' },
      section('Record', 'record-title', facts),
      section('Placement', 'placement-title', placement),
    ),
    section('Quotas and enforcement', 'quotas-title', quotas),
    h(
      'div',
      { class: 'grid-2' },
      section('Usage per day', 'usage-title', usage),
      section('Backups', 'backups-title', backups),
    ),
    section('Timeline', 'timeline-title', timeline),
  );

  function renderDetail(): void {
    if (!detail) return;
    title.textContent = detail.organization_name;
    replace(status, statusBadge(detail.status));
    activate.disabled = detail.status !== 'suspended';
    replace(
      facts,
      [
        ['Id', detail.id],
        ['Slug', detail.slug ?? '—'],
        ['Admin e-mail', detail.admin_email],
        ['Plan', detail.plan],
        ['Region', detail.region],
        ['Registered', formatTime(detail.registered_at)],
        ['Suspended because', detail.suspended_reason ?? '—'],
      ].map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]),
    );
    replace(
      placement,
      detail.placement
        ? h(
            'dl',
            { class: 'facts' },
            Object.entries(detail.placement).map(([key, value]) => [
              h('dt', {}, key),
              h('dd', { class: 'mono' }, String(value)),
            ]),
          )
        : h('p', { class: 'muted' }, 'Not placed yet.'),
    );
    replace(
      timeline,
      h(
        'ul',
        { class: 'timeline', 'aria-label': 'Events, newest first' },
        [...detail.timeline]
          .reverse()
          .map((event) =>
            h(
              'li',
              {},
              h('time', { datetime: event.time }, formatTime(event.time)),
              ' ',
              h('span', { class: 'mono' }, event.type),
            ),
          ),
      ),
    );
  }

  function renderOperations(): void {
    const fromStream = [...live.state.operations.values()].filter((operation) => operation.tenant_id === tenantId);
    const byId = new Map<string, LiveOperation>();
    for (const operation of started.values()) byId.set(operation.id, operation);
    for (const operation of fromStream) byId.set(operation.id, operation);
    const list = [...byId.values()].sort((a, b) => (a.started_at < b.started_at ? 1 : -1));
    replace(
      operations,
      list.length === 0
        ? h('p', { class: 'muted' }, 'No operation in the last minute.')
        : h(
            'table',
            {},
            h('caption', { class: 'visually-hidden' }, 'Operations of this tenant'),
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Kind', 'Tenant', 'Status', 'Progress', 'Step', 'Updated (UTC)'].map((name) =>
                  h('th', { scope: 'col' }, name),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              operationRows(list).map((row) =>
                h(
                  'tr',
                  {},
                  row.map((cell) => h('td', {}, cell)),
                ),
              ),
            ),
          ),
    );
  }

  async function refresh(): Promise<void> {
    try {
      detail = await api<TenantDetail>(`/api/admin/tenants/${tenantId}`);
      if (!closed) renderDetail();
    } catch (error) {
      if (!closed)
        replace(facts, h('p', { class: 'form-error' }, `Could not load the tenant: ${(error as Error).message}`));
      return;
    }
    const [quotaReport, usageReport, backupList] = await Promise.allSettled([
      api<QuotaReport>(`/api/admin/tenants/${tenantId}/quotas`),
      api<UsageReport>(`/api/admin/tenants/${tenantId}/usage?granularity=day`),
      api<{ items: BackupItem[] }>(`/api/admin/tenants/${tenantId}/backups`),
    ]);
    if (closed) return;
    replace(
      quotas,
      quotaReport.status === 'fulfilled'
        ? [
            h(
              'table',
              {},
              h('caption', { class: 'visually-hidden' }, 'Quotas'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Quota', 'Used', 'Limit', 'Remaining', 'State'].map((name) => h('th', { scope: 'col' }, name)),
                ),
              ),
              h(
                'tbody',
                {},
                quotaReport.value.quotas.map((quota) => {
                  const bytes = quota.quota === 'storage_bytes';
                  const show = (n: number) => (bytes ? formatBytes(n) : formatNumber(n));
                  return h(
                    'tr',
                    {},
                    h('td', {}, quota.quota),
                    h('td', {}, show(quota.used)),
                    h('td', {}, show(quota.limit), quota.overridden ? ' (override)' : ''),
                    h('td', {}, show(quota.remaining)),
                    h('td', {}, statusBadge(quota.state)),
                  );
                }),
              ),
            ),
            h(
              'p',
              { class: 'muted small' },
              quotaReport.value.enforced
                ? `Enforcement state updated ${formatTime(quotaReport.value.updated_at)}.`
                : 'The quota service has not published an enforcement state for this tenant yet.',
            ),
          ]
        : h('p', { class: 'muted' }, 'Quotas unavailable.'),
    );
    if (usageReport.status === 'fulfilled') {
      const days = new Map<string, Record<string, number>>();
      for (const item of usageReport.value.windows) {
        const day = item.window_start.slice(0, 10);
        const values = days.get(day) ?? {};
        values[item.meter] = item.value;
        days.set(day, values);
      }
      const meters = [...new Set(usageReport.value.windows.map((item) => item.meter))].sort();
      replace(
        usage,
        days.size === 0
          ? h('p', { class: 'muted' }, 'No usage recorded in the last 30 days.')
          : h(
              'table',
              {},
              h('caption', { class: 'visually-hidden' }, 'Usage per day'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  h('th', { scope: 'col' }, 'Day (UTC)'),
                  meters.map((meter) => h('th', { scope: 'col' }, meter)),
                ),
              ),
              h(
                'tbody',
                {},
                [...days.entries()]
                  .sort((a, b) => (a[0] < b[0] ? 1 : -1))
                  .map(([day, values]) =>
                    h(
                      'tr',
                      {},
                      h('td', {}, day),
                      meters.map((meter) => h('td', {}, formatNumber(values[meter] ?? 0))),
                    ),
                  ),
              ),
            ),
      );
    } else replace(usage, h('p', { class: 'muted' }, `Usage unavailable: ${(usageReport.reason as Error).message}`));
    if (backupList.status === 'fulfilled') {
      const items = backupList.value.items;
      const completed = items.filter((item) => item.status === 'completed');
      replace(
        restoreSelect,
        completed.length === 0 && h('option', { value: '' }, 'No completed backup'),
        completed.map((item) =>
          h('option', { value: item.id }, `${formatTime(item.created_at)} · ${formatBytes(item.size_bytes)}`),
        ),
      );
      replace(
        backups,
        items.length === 0
          ? h('p', { class: 'muted' }, 'No backups yet.')
          : h(
              'table',
              {},
              h('caption', { class: 'visually-hidden' }, 'Backups'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Created (UTC)', 'Status', 'Size', 'Rows'].map((name) => h('th', { scope: 'col' }, name)),
                ),
              ),
              h(
                'tbody',
                {},
                items.map((item) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, formatTime(item.created_at)),
                    h('td', {}, statusBadge(item.status)),
                    h('td', {}, formatBytes(item.size_bytes)),
                    h('td', {}, formatNumber(item.rows)),
                  ),
                ),
              ),
            ),
      );
    } else replace(backups, h('p', { class: 'muted' }, 'Backups unavailable.'));
  }

  void refresh();
  const stop = live.subscribe((state, changed, resync) => {
    renderOperations();
    const mine = changed.find((tenant) => tenant.id === tenantId);
    if (mine && detail) {
      // The status moves at once from the stream; the record (timeline, reason) is read again.
      detail = { ...detail, status: mine.status, region: mine.region };
      renderDetail();
      void refresh();
    } else if (resync && state.connections > 0) void refresh();
    for (const operation of started.values()) {
      if (state.operations.has(operation.id)) started.delete(operation.id);
    }
  });
  return () => {
    closed = true;
    stop();
  };
}
