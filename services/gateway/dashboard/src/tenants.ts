import { api } from './api.js';
import { h, replace, statusBadge } from './dom.js';
import type { LiveClient, TenantSummary } from './live.js';
import { virtualList } from './vlist.js';

type TenantRow = TenantSummary;

interface Filters {
  q: string;
  status: string;
  plan: string;
  region: string;
}

const ROW_HEIGHT = 44;
const PAGE_SIZE = 100;
const STATUSES = ['active', 'provisioning', 'pending', 'suspended', 'failed'];

function matches(tenant: TenantSummary, filters: Filters): boolean {
  if (filters.status && tenant.status !== filters.status) return false;
  if (filters.plan && tenant.plan !== filters.plan) return false;
  if (filters.region && tenant.region !== filters.region) return false;
  if (filters.q) {
    const q = filters.q.toLowerCase();
    return [tenant.organization_name, tenant.slug ?? '', tenant.admin_email].some((field) =>
      field.toLowerCase().includes(q),
    );
  }
  return true;
}

function select(id: string, label: string, plural: string, options: string[], value: string): HTMLSelectElement {
  return h(
    'select',
    { id, 'aria-label': label },
    h('option', { value: '' }, `All ${plural}`),
    options.map((option) => h('option', { value: option, selected: option === value }, option)),
  );
}

/**
 * Every tenant, filtered and paged on the server (keyset pages of 100 fetched as the list scrolls),
 * rendered as a virtual list: only the rows in view exist in the page, so 10,000 tenants scroll
 * as smoothly as 10. Tenants that change or register arrive over the live stream.
 */
export function mountTenants(main: HTMLElement, live: LiveClient): () => void {
  const params = new URLSearchParams(location.search);
  const filters: Filters = {
    q: params.get('q') ?? '',
    status: params.get('status') ?? '',
    plan: params.get('plan') ?? '',
    region: params.get('region') ?? '',
  };
  let cursor: string | null = null;
  let loading = false;
  let generation = 0;
  let exhausted = false;

  const search = h('input', {
    id: 'tenant-search',
    type: 'search',
    placeholder: 'Name, slug or admin e-mail',
    value: filters.q,
    'aria-label': 'Search tenants',
  });
  const overview = live.state.overview;
  const status = select('filter-status', 'Status', 'statuses', STATUSES, filters.status);
  const plan = select(
    'filter-plan',
    'Plan',
    'plans',
    Object.keys(overview?.tenants.by_plan ?? {}).sort(),
    filters.plan,
  );
  const region = select(
    'filter-region',
    'Region',
    'regions',
    Object.keys(overview?.tenants.by_region ?? {}).sort(),
    filters.region,
  );
  const count = h('p', { class: 'muted', id: 'tenant-count', 'aria-live': 'polite' });
  const list = virtualList<TenantRow>({
    id: 'tenant-list',
    label: 'Tenants',
    columns: ['Organization', 'Slug', 'Admin e-mail', 'Plan', 'Region', 'Status'],
    rowHeight: ROW_HEIGHT,
    row: (tenant) =>
      h(
        'div',
        { class: 'vlist-row', role: 'row', 'data-tenant': tenant.id },
        h(
          'span',
          { role: 'cell' },
          h('a', { href: `/dashboard/tenants/${tenant.id}`, 'data-nav': '' }, tenant.organization_name),
        ),
        h('span', { role: 'cell', class: 'mono' }, tenant.slug ?? '—'),
        h('span', { role: 'cell' }, tenant.admin_email),
        h('span', { role: 'cell' }, tenant.plan),
        h('span', { role: 'cell' }, tenant.region),
        h('span', { role: 'cell' }, statusBadge(tenant.status)),
      ),
    onRendered: (last) => {
      if (last >= list.rows().length - 20) void loadMore();
    },
  });

  function refreshCount(): void {
    const rows = list.rows();
    const n = `${rows.length.toLocaleString('en-US')} ${rows.length === 1 ? 'tenant' : 'tenants'}`;
    count.textContent = exhausted ? n : `${n} loaded; scroll for more`;
  }

  function setRows(next: TenantRow[]): void {
    list.setRows(next);
    refreshCount();
  }

  async function loadMore(): Promise<void> {
    if (loading || exhausted) return;
    loading = true;
    const mine = generation;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    if (cursor) query.set('cursor', cursor);
    try {
      const page = await api<{ items: TenantRow[]; next_cursor: string | null }>(`/api/admin/tenants?${query}`);
      if (mine !== generation) return;
      cursor = page.next_cursor;
      exhausted = cursor === null;
      const rows = list.rows();
      const known = new Set(rows.map((row) => row.id));
      setRows([...rows, ...page.items.filter((item) => !known.has(item.id))]);
    } catch (error) {
      if (mine === generation) count.textContent = `Could not load tenants: ${(error as Error).message}`;
    } finally {
      if (mine === generation) loading = false;
    }
  }

  function reload(): void {
    generation++;
    loading = false;
    cursor = null;
    exhausted = false;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    history.replaceState(null, '', `/dashboard/tenants${query.size > 0 ? `?${query}` : ''}`);
    setRows([]);
    list.element.scrollTop = 0;
    void loadMore();
  }

  let debounce: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      filters.q = search.value.trim();
      reload();
    }, 250);
  });
  for (const [control, key] of [
    [status, 'status'],
    [plan, 'plan'],
    [region, 'region'],
  ] as const) {
    control.addEventListener('change', () => {
      filters[key] = control.value;
      reload();
    });
  }

  replace(
    main,
    h('h1', {}, 'Tenants'),
    h('div', { class: 'filters', role: 'search' }, search, status, plan, region),
    count,
    list.element,
  );
  const unmountVirtualizer = list.mount();
  reload();

  const stop = live.subscribe((_state, changed, resync) => {
    // A snapshot (a new connection to another gateway process) or more changes than a tick
    // carries: changes may have been missed, so read the list again.
    if (resync) {
      reload();
      return;
    }
    if (changed.length === 0) return;
    const rows = list.rows();
    const index = new Map(rows.map((row, i) => [row.id, i]));
    const next = [...rows];
    const added: TenantRow[] = [];
    for (const tenant of changed) {
      const at = index.get(tenant.id);
      if (at !== undefined) next[at] = { ...next[at]!, ...tenant };
      else if (matches(tenant, filters)) added.push(tenant);
    }
    setRows([...added.reverse(), ...next]);
  });
  return () => {
    stop();
    clearTimeout(debounce);
    generation++;
    unmountVirtualizer();
  };
}
