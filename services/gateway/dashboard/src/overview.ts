import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatClock, formatNumber, h, progressBar, replace, section, statusBadge } from './dom.js';
import type { LiveClient, LiveOperation, LiveState, Sample } from './live.js';

const STATUSES = ['active', 'provisioning', 'pending', 'suspended', 'failed'] as const;

function card(label: string, id: string): { element: HTMLElement; value: HTMLElement } {
  const value = h('span', { class: 'card-value', id });
  return { element: h('div', { class: 'card' }, h('span', { class: 'card-label' }, label), value), value };
}

export function table(
  caption: string,
  headers: string[],
  rows: (string | number | Node)[][],
  empty: string,
): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted empty' }, empty);
  return h(
    'table',
    {},
    h('caption', { class: 'visually-hidden' }, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((header) => h('th', { scope: 'col' }, header)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((row) =>
        h(
          'tr',
          {},
          row.map((cell) => h('td', {}, cell)),
        ),
      ),
    ),
  );
}

export function operationRows(operations: LiveOperation[]): (string | Node)[][] {
  return operations.map((operation) => [
    operation.kind,
    h('a', { href: `/dashboard/tenants/${operation.tenant_id}`, 'data-nav': '' }, operation.tenant_id.slice(0, 8)),
    statusBadge(operation.status),
    h(
      'div',
      {
        class: 'progress-cell',
        'data-operation': operation.id,
        'data-kind': operation.kind,
        'data-progress': operation.progress,
      },
      progressBar(operation.progress, `${operation.kind} progress`),
      h('span', { class: 'progress-text' }, `${operation.progress}%`),
    ),
    operation.step ?? '—',
    formatClock(operation.updated_at),
  ]);
}

/** A time-series chart over the samples, drawn with uPlot. */
class Chart {
  readonly element = h('div', { class: 'chart', role: 'img' });
  private plot: uPlot | undefined;
  private readonly resize = new ResizeObserver(() => this.fit());

  constructor(
    label: string,
    private readonly series: { label: string; color: string; value: (sample: Sample) => number | null }[],
  ) {
    this.element.setAttribute('aria-label', `${label}, last hour`);
    this.resize.observe(this.element);
  }

  update(samples: Sample[]): void {
    const data: uPlot.AlignedData = [
      samples.map((sample) => Date.parse(sample.at) / 1_000),
      ...this.series.map((series) => samples.map((sample) => series.value(sample))),
    ];
    if (!this.plot) {
      const width = Math.max(240, this.element.clientWidth);
      this.plot = new uPlot(
        {
          width,
          height: 180,
          legend: { show: true },
          cursor: { show: true },
          scales: { x: { time: true } },
          axes: [
            { stroke: '#4b5563', grid: { stroke: '#eef0f3' } },
            { stroke: '#4b5563', grid: { stroke: '#eef0f3' } },
          ],
          series: [
            {},
            ...this.series.map((series) => ({ label: series.label, stroke: series.color, width: 2, spanGaps: true })),
          ],
        },
        data,
        this.element,
      );
    } else this.plot.setData(data);
  }

  private fit(): void {
    if (this.plot && this.element.clientWidth > 0) this.plot.setSize({ width: this.element.clientWidth, height: 180 });
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
  }
}

export function mountOverview(main: HTMLElement, live: LiveClient): () => void {
  const cards = {
    total: card('Tenants', 'stat-total'),
    active: card('Active', 'stat-active'),
    provisioning: card('Provisioning', 'stat-provisioning'),
    suspended: card('Suspended', 'stat-suspended'),
    failed: card('Failed', 'stat-failed'),
    registrations: card('Registrations / min', 'stat-registrations'),
    queue: card('Provisioning queue', 'stat-queue'),
    requests: card('Requests / s', 'stat-requests'),
  };
  const tenantsChart = new Chart('Tenants and active tenants', [
    { label: 'Tenants', color: '#2563eb', value: (s) => s.tenants },
    { label: 'Active', color: '#059669', value: (s) => s.active },
  ]);
  const activityChart = new Chart('Registrations per minute and requests per second', [
    { label: 'Registrations / min', color: '#7c3aed', value: (s) => s.registrations_per_min },
    { label: 'Requests / s', color: '#d97706', value: (s) => s.requests_per_s },
    { label: 'Refusals / s', color: '#dc2626', value: (s) => s.refusals_per_s },
  ]);
  const alerts = h('div', { id: 'alerts' });
  const operations = h('div', { id: 'operations' });
  const breakdown = h('div', { class: 'breakdown' });
  const traffic = h('div', { id: 'traffic' });
  const limits = h('div', { id: 'limits' });
  const pipeline = h('div', { id: 'pipeline' });
  const audit = h('div', { id: 'audit' });

  replace(
    main,
    h('h1', {}, 'Fleet overview'),
    h(
      'div',
      { class: 'cards' },
      Object.values(cards).map((c) => c.element),
    ),
    section('Alerts', 'alerts-title', alerts),
    h(
      'div',
      { class: 'grid-2' },
      section('Tenants, last hour', 'chart-tenants-title', tenantsChart.element),
      section('Activity, last hour', 'chart-activity-title', activityChart.element),
    ),
    section('Operations in flight', 'operations-title', operations),
    h(
      'div',
      { class: 'grid-2' },
      section('Fleet by plan and region', 'breakdown-title', breakdown),
      section('Busiest tenants, last minute', 'traffic-title', traffic),
    ),
    h(
      'div',
      { class: 'grid-2' },
      section('Limits and quotas', 'limits-title', limits),
      section('Event pipeline', 'pipeline-title', pipeline),
    ),
    section('Recent audit entries', 'audit-title', audit),
  );

  let lastHistoryLength = -1;
  let lastShown = '';
  const render = (state: LiveState) => {
    const overview = state.overview;
    if (!overview) return;
    // Most ticks change nothing on screen: leave the page (and the keyboard focus in it) alone then.
    const shown = JSON.stringify([overview, [...state.operations.values()], state.history.length]);
    if (shown === lastShown) return;
    lastShown = shown;
    const by = overview.tenants.by_status;
    cards.total.value.textContent = formatNumber(overview.tenants.total);
    cards.active.value.textContent = formatNumber(by.active ?? 0);
    cards.provisioning.value.textContent = formatNumber((by.provisioning ?? 0) + (by.pending ?? 0));
    cards.suspended.value.textContent = formatNumber(by.suspended ?? 0);
    cards.failed.value.textContent = formatNumber(by.failed ?? 0);
    cards.registrations.value.textContent = formatNumber(overview.registrations_per_min);
    cards.queue.value.textContent = formatNumber(overview.provisioning_queue);
    cards.requests.value.textContent = formatNumber(overview.requests.rate);

    replace(
      alerts,
      overview.alerts.length === 0
        ? h('p', { class: 'ok' }, 'No alert is firing.')
        : h(
            'ul',
            { class: 'alerts' },
            overview.alerts.map((alert) =>
              h(
                'li',
                { class: `alert alert-${alert.severity}` },
                h('strong', {}, alert.name),
                ` ${alert.summary} `,
                h('span', { class: 'muted' }, `since ${formatClock(alert.since)}`),
              ),
            ),
          ),
    );
    const running = [...state.operations.values()].sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
    replace(
      operations,
      table(
        'Operations in flight',
        ['Kind', 'Tenant', 'Status', 'Progress', 'Step', 'Updated (UTC)'],
        operationRows(running.slice(0, 50)),
        'No operation is running.',
      ),
    );
    const counts = (title: string, values: Record<string, number>) =>
      table(
        title,
        [title, 'Tenants'],
        Object.entries(values)
          .sort((a, b) => b[1] - a[1])
          .map(([name, n]) => [name, formatNumber(n)]),
        'No tenants yet.',
      );
    replace(
      breakdown,
      counts('Plan', overview.tenants.by_plan),
      counts('Region', overview.tenants.by_region),
      counts(
        'Status',
        Object.fromEntries(STATUSES.map((status) => [status, by[status] ?? 0] as const).filter(([, n]) => n > 0)),
      ),
    );
    replace(
      traffic,
      table(
        'Busiest tenants',
        ['Tenant', 'Requests / s', 'p95 (ms)'],
        overview.requests.top.map((t) => [
          h('a', { href: `/dashboard/tenants/${t.tenant_id}`, 'data-nav': '' }, t.tenant_id.slice(0, 8)),
          formatNumber(t.rate),
          formatNumber(t.p95_ms),
        ]),
        'No tenant traffic in the last minute.',
      ),
    );
    replace(
      limits,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Rate-limit refusals'),
        h('dd', {}, formatNumber(overview.limits.rate_limited)),
        h('dt', {}, 'Quota refusals'),
        h('dd', {}, formatNumber(overview.limits.quota_refusals)),
        h('dt', {}, 'Quota warnings'),
        h('dd', {}, formatNumber(overview.limits.quota_warnings)),
        h('dt', {}, 'Limits exceeded'),
        h('dd', {}, formatNumber(overview.limits.quota_exceeded)),
      ),
      h('p', { class: 'muted small' }, 'Counted by this gateway since it started.'),
    );
    replace(
      pipeline,
      h(
        'dl',
        { class: 'facts' },
        Object.entries(overview.projection_lag).map(([name, lag]) => [
          h('dt', {}, `Projection lag: ${name}`),
          h('dd', {}, lag === null ? 'unknown' : `${formatNumber(lag)} events`),
        ]),
        h('dt', {}, 'Dead letters'),
        h('dd', {}, formatNumber(overview.dead_letters)),
      ),
    );
    replace(
      audit,
      table(
        'Recent audit entries',
        ['Time (UTC)', 'Actor', 'Action', 'Scope', 'Outcome'],
        overview.audit.map((line) => [
          formatClock(line.time),
          line.actor,
          line.action,
          line.scope === 'system' ? 'system' : line.scope.slice(0, 8),
          statusBadge(line.outcome),
        ]),
        'No audit entries yet.',
      ),
    );
    if (state.history.length !== lastHistoryLength) {
      lastHistoryLength = state.history.length;
      tenantsChart.update(state.history);
      activityChart.update(state.history);
    }
  };
  const stop = live.subscribe((state) => render(state));
  return () => {
    stop();
    tenantsChart.destroy();
    activityChart.destroy();
  };
}
