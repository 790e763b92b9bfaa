import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from './support/closedPort.js';
import { adminKey, type FakeGateway, startFakeGateway } from './support/fakeGateway.js';
import { runCli } from './support/runCli.js';

let gateway: FakeGateway;
const admin = (...args: string[]) => runCli(args, { TTM_URL: gateway.url, TTM_ADMIN_KEY: adminKey });
const acme = '0b3f8a4e-1111-4aaa-8aaa-000000000001';
const globex = '0b3f8a4e-2222-4aaa-8aaa-000000000002';

beforeAll(async () => {
  gateway = await startFakeGateway();
});
afterAll(async () => {
  await gateway.close();
});

describe('tenant-cli admin verbs', () => {
  it('lists tenants as a table with short ids', async () => {
    const result = await admin('list', '--status', 'active');
    expect(result.code).toBe(0);
    const [head, first] = result.stdout.trim().split('\n');
    expect(head?.split(/\s+/)).toEqual(['ID', 'NAME', 'SLUG', 'PLAN', 'REGION', 'STATUS', 'CREATED']);
    expect(first).toMatch(/^0b3f8a4e\s+Acme Corp\s+acme\s+pro\s+eu-west-1\s+active\s+2025-05-01 10:00:00$/);
    const request = gateway.requests.findLast((r) => r.url.startsWith('/api/admin/tenants'));
    expect(request?.url).toBe('/api/admin/tenants?status=active');
    expect(request?.headers['x-admin-key']).toBe(adminKey);
  });

  it('list --all --json follows next_cursor through every page', async () => {
    const result = await admin('list', '--limit', '2', '--all', '--json');
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout) as { items: { slug: string }[]; next_cursor: string | null };
    expect(body.items.map((t) => t.slug)).toEqual(['acme', 'globex', 'initech']);
    expect(body.next_cursor).toBeNull();
  });

  it('needs the admin key, and says which variable to set', async () => {
    const result = await runCli(['list'], { TTM_URL: gateway.url });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('tenant-cli: this command needs the admin key: set TTM_ADMIN_KEY or pass --admin-key\n');
    expect(result.stdout).toBe('');
  });

  it('shows a tenant found by its slug, with its timeline', async () => {
    const result = await admin('show', 'acme');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`ID\\s+${acme}`));
    expect(result.stdout).toMatch(/PLACEMENT\s+euw1-a \(eu-west-1\), schema ttm_dp_euw1_a.workspace_abc/);
    expect(result.stdout).toMatch(/QUOTAS\s+25 users, 5 GiB storage, 1,000,000 API calls\/month/);
    expect(result.stdout).toMatch(/TOOK\s+3.4 s/);
    expect(result.stdout).toMatch(/2\s+2025-05-01 10:00:03\s+ttm.tenant.provisioned.v1\s+\{"slug":"acme"\}/);
    expect(gateway.requests.some((r) => r.url === '/api/admin/tenants?q=acme&limit=100')).toBe(true);
  });

  it('prints a problem+json error as one line, exit 1', async () => {
    const missing = '0b3f8a4e-9999-4aaa-8aaa-000000000009';
    const result = await admin('show', missing);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`tenant-cli: Tenant not found: no tenant has the id ${missing}\n`);

    const wrongKey = await runCli(['stats'], { TTM_URL: gateway.url, TTM_ADMIN_KEY: 'wrong' });
    expect(wrongKey.stderr).toBe(
      'tenant-cli: Unauthorized: the X-Admin-Key header is missing or wrong (check TTM_ADMIN_KEY)\n',
    );
  });

  it('says so when no tenant has the slug', async () => {
    const result = await admin('show', 'hooli');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tenant-cli: no tenant has the slug "hooli"/);
  });

  it('suspends with a reason and activates, flags taken from the command line', async () => {
    const suspended = await runCli([
      'suspend',
      'globex',
      '--reason',
      'unpaid invoice',
      '--url',
      gateway.url,
      '--admin-key',
      adminKey,
    ]);
    expect(suspended.code).toBe(0);
    expect(suspended.stdout).toBe(`globex (${globex}) is suspended\n`);
    const post = gateway.requests.findLast((r) => r.method === 'POST');
    expect(post?.url).toBe(`/api/admin/tenants/${globex}/suspend`);
    expect(post?.body).toEqual({ reason: 'unpaid invoice' });

    const activated = await admin('activate', globex, '--json');
    expect(activated.code).toBe(0);
    expect(JSON.parse(activated.stdout)).toMatchObject({ id: globex, status: 'active' });
  });

  it('prints stats as tables, and the raw JSON with --json', async () => {
    const table = await admin('stats');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/TENANTS\s+3/);
    expect(table.stdout).toMatch(/DURATION\s+p50 2.1 s, p95 3.4 s, p99 -/);
    expect(table.stdout).toMatch(/us-east-1\s+2/);

    const json = await admin('stats', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ provisioning: { queue_depth: 4 } });
  });

  it('passes audit filters, turning --since 1h into a from instant', async () => {
    const before = Date.now();
    const result = await admin('audit', '--tenant', 'globex', '--action', 'tenant.suspend', '--since', '1h');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/admin:ops\s+tenant.suspend\s+0b3f8a4e-2222.*success\s+10.0.0.7/);
    const request = gateway.requests.findLast((r) => r.url.startsWith('/api/admin/audit'));
    const query = new URL(request!.url, gateway.url).searchParams;
    expect(query.get('tenant')).toBe(globex);
    expect(query.get('action')).toBe('tenant.suspend');
    const from = Date.parse(query.get('from') ?? '');
    expect(Math.abs(before - 3_600_000 - from)).toBeLessThan(60_000);
  });

  it('rejects a bad option value before calling anything', async () => {
    const result = await admin('list', '--limit', 'lots');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "tenant-cli: option '--limit <n>' argument 'lots' is invalid. expected a whole number above 0\n",
    );
  });

  it('exits 2 with a hint when the gateway cannot be reached', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const result = await runCli(['stats'], { TTM_URL: url, TTM_ADMIN_KEY: adminKey });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`tenant-cli: cannot reach ${url} (ECONNREFUSED): is the gateway running? set TTM_URL\n`);
  });

  it('--help lists every verb', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const verb of [
      'register',
      'list',
      'show',
      'suspend',
      'activate',
      'stats',
      'audit',
      'backup',
      'backups',
      'restore',
      'migrate',
      'health',
      'users',
    ]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
    }
  });
});
