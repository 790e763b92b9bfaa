import { randomUUID } from 'node:crypto';
import { type DataOf, encodeMessage, RegisterOrganization, Subjects, TenantRegistered } from '@ttm/contracts';
import { connectNats, createLogger, publishMessage, replayProjection } from '@ttm/service-kit';
import { argon2id, hash } from 'argon2';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json, problem } from '../../../test/support/http.js';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';
import type { AuditItem } from '../src/features/audit/index.js';
import type { FleetStats } from '../src/features/fleet/index.js';
import type { TenantDetail, TenantItem } from '../src/features/tenants/index.js';
import { AUDITED_AUTH_FAILURES_PER_ADDRESS } from '../src/plugins/adminAuth.js';
import { projections } from '../src/projections.js';

const PASSWORD = 'Correct-Horse-Battery-9';
let passwordHash: string;

let stack: TestStack;
let db: pg.Pool;

interface Seed {
  name: string;
  email: string;
  plan: string;
  region: 'us-east-1' | 'eu-west-1';
}

const seeds: Seed[] = [
  { name: 'Acme Rockets', email: 'wile@acme.test', plan: 'pro', region: 'us-east-1' },
  { name: 'Globex Corporation', email: 'hank@globex.test', plan: 'free', region: 'us-east-1' },
  { name: 'Initech', email: 'bill@initech.test', plan: 'pro', region: 'eu-west-1' },
  { name: 'Umbrella Labs', email: 'alice@umbrella.test', plan: 'enterprise', region: 'eu-west-1' },
  { name: 'Hooli XYZ', email: 'gavin@hooli.test', plan: 'free', region: 'eu-west-1' },
  { name: 'Vandelay Industries', email: 'art@vandelay.test', plan: 'pro', region: 'us-east-1' },
];
/** Tenant id by organization name. */
const ids = new Map<string, string>();
/** A tenant whose registration was recorded but never provisioned: it stays pending. */
const pendingTenant = randomUUID();

const admin = adminFetch(() => stack.url);

async function register(seed: Seed): Promise<string> {
  const tenantId = randomUUID();
  const message = encodeMessage(
    RegisterOrganization,
    {
      provisioningId: randomUUID(),
      tenantId,
      organizationName: seed.name,
      adminEmail: seed.email,
      adminPasswordHash: passwordHash,
      plan: seed.plan,
      region: seed.region,
      requestedAt: new Date().toISOString(),
    },
    { source: '/test' },
  );
  await publishMessage(stack.gateway!.deps.js, RegisterOrganization.subject, message);
  return tenantId;
}

async function listAll(query = ''): Promise<TenantItem[]> {
  const page = await json<{ items: TenantItem[]; next_cursor: string | null }>(
    await admin(`/api/admin/tenants?limit=200${query}`),
  );
  expect(page.next_cursor).toBeNull();
  return page.items;
}

const names = (items: TenantItem[]) => items.map((t) => t.organization_name).sort();
const seedNames = (predicate: (s: Seed) => boolean) =>
  seeds
    .filter(predicate)
    .map((s) => s.name)
    .sort();

beforeAll(async () => {
  passwordHash = await hash(PASSWORD, { type: argon2id, memoryCost: 8192, timeCost: 1 });
  stack = await startStack();
  db = new pg.Pool({ connectionString: stack.db.url, max: 2 });
  for (const seed of seeds) ids.set(seed.name, await register(seed));
  // A registration the provisioner never saw: published as its event, so the tenant stays pending.
  const registered: DataOf<typeof TenantRegistered> = {
    tenantId: pendingTenant,
    provisioningId: randomUUID(),
    organizationName: 'Pending Pty',
    adminEmail: 'nobody@pending.test',
    plan: 'free',
    region: 'us-east-1',
    registeredAt: new Date().toISOString(),
  };
  await publishMessage(
    stack.gateway!.deps.js,
    Subjects.tenantEvents(pendingTenant),
    encodeMessage(TenantRegistered, registered, { source: '/test', subject: pendingTenant }),
  );
  await eventually(async () => {
    const items = await listAll();
    const active = items.filter((t) => t.status === 'active');
    return active.length === seeds.length && items.length === seeds.length + 1 ? true : undefined;
  }, 30_000);
}, 60_000);

afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

describe('GET /api/admin/tenants', () => {
  it('lists every tenant newest first, with a stable order', async () => {
    const items = await listAll();
    expect(items).toHaveLength(seeds.length + 1);
    const sorted = [...items].sort(
      (a, b) => b.registered_at.localeCompare(a.registered_at) || b.id.localeCompare(a.id),
    );
    expect(items.map((t) => t.id)).toEqual(sorted.map((t) => t.id));
    const acme = items.find((t) => t.id === ids.get('Acme Rockets'));
    expect(acme).toEqual({
      id: ids.get('Acme Rockets'),
      organization_name: 'Acme Rockets',
      slug: 'acme-rockets',
      admin_email: 'wile@acme.test',
      plan: 'pro',
      region: 'us-east-1',
      status: 'active',
      progress: 100,
      registered_at: expect.any(String),
      updated_at: expect.any(String),
    });
  });

  it('filters by status, plan and region, alone and together', async () => {
    expect(names(await listAll('&plan=pro'))).toEqual(seedNames((s) => s.plan === 'pro'));
    expect(names(await listAll('&region=eu-west-1'))).toEqual(seedNames((s) => s.region === 'eu-west-1'));
    expect(names(await listAll('&plan=pro&region=us-east-1'))).toEqual(
      seedNames((s) => s.plan === 'pro' && s.region === 'us-east-1'),
    );
    expect(names(await listAll('&status=active'))).toEqual(seedNames(() => true));
    expect(names(await listAll('&status=pending'))).toEqual(['Pending Pty']);
    expect(await listAll('&status=failed')).toEqual([]);
  });

  it('searches name, slug and e-mail by case-insensitive substring, with LIKE characters taken literally', async () => {
    expect(names(await listAll('&q=ROCKET'))).toEqual(['Acme Rockets']);
    expect(names(await listAll('&q=vandelay-ind'))).toEqual(['Vandelay Industries']); // slug
    expect(names(await listAll('&q=%40globex.TEST'))).toEqual(['Globex Corporation']); // e-mail
    // "in" is in Initech's name, Vandelay's name and slug, gavin@hooli's e-mail and Pending's name.
    expect(names(await listAll('&q=IN'))).toEqual(['Hooli XYZ', 'Initech', 'Pending Pty', 'Vandelay Industries']);
    expect(names(await listAll('&q=in&region=eu-west-1'))).toEqual(['Hooli XYZ', 'Initech']);
    expect(await listAll('&q=%25')).toEqual([]);
    expect(await listAll('&q=_')).toEqual([]);
    // The separator between the searched fields never matches across two of them.
    expect(await listAll(`&q=${encodeURIComponent('rocketsacme')}`)).toEqual([]);
  });

  it('walks every tenant exactly once, in order, page by page', async () => {
    const all = await listAll();
    for (const limit of [1, 2, 3]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 20; pages++) {
        const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
        const page: { items: TenantItem[]; next_cursor: string | null } = await json(
          await admin(`/api/admin/tenants?limit=${limit}${query}`),
        );
        expect(page.items.length).toBeLessThanOrEqual(limit);
        seen.push(...page.items.map((t) => t.id));
        cursor = page.next_cursor;
        if (!cursor) break;
      }
      expect(seen, `limit ${limit}`).toEqual(all.map((t) => t.id));
    }
    const filtered = await json<{ items: TenantItem[]; next_cursor: string }>(
      await admin('/api/admin/tenants?plan=pro&limit=2'),
    );
    const rest = await json<{ items: TenantItem[]; next_cursor: string | null }>(
      await admin(`/api/admin/tenants?plan=pro&limit=2&cursor=${filtered.next_cursor}`),
    );
    expect(names([...filtered.items, ...rest.items])).toEqual(seedNames((s) => s.plan === 'pro'));
    expect(rest.next_cursor).toBeNull();
  });

  it('refuses a bad cursor or limit with a 400 problem', async () => {
    for (const cursor of [
      'garbage',
      Buffer.from('["yesterday","x"]').toString('base64url'),
      Buffer.from('{}').toString('base64url'),
    ]) {
      const bad = await problem(await admin(`/api/admin/tenants?cursor=${cursor}`), 400);
      expect(bad.type).toBe('https://ttm.dev/problems/invalid-cursor');
    }
    for (const limit of ['0', '201', 'many']) {
      expect((await problem(await admin(`/api/admin/tenants?limit=${limit}`), 400)).type).toBe(
        'https://ttm.dev/problems/validation',
      );
    }
    expect((await problem(await admin('/api/admin/tenants?status=sleeping'), 400)).errors?.[0]?.name).toBe('status');
  });
});

describe('GET /api/admin/tenants/{id}', () => {
  it('shows placement, quotas, provisioning and the event timeline in order', async () => {
    const id = ids.get('Initech')!;
    const tenant = await json<TenantDetail>(await admin(`/api/admin/tenants/${id}`));
    expect(tenant).toMatchObject({
      id,
      organization_name: 'Initech',
      slug: 'initech',
      plan: 'pro',
      region: 'eu-west-1',
      status: 'active',
      placement: { region: 'eu-west-1', cluster: 'euw1-a', kind: 'schema' },
      quotas: stack.gateway!.deps.catalog.plan('pro')!.quotas,
      suspended_reason: null,
      provisioning: { status: 'succeeded', progress: 100, step: 'activate', error: null },
    });
    const p = tenant.provisioning;
    expect(Date.parse(p.finished_at!)).toBeGreaterThanOrEqual(Date.parse(p.started_at!));
    expect(p.duration_ms).toBeGreaterThanOrEqual(0);
    expect(tenant.timeline.map((e) => e.type)).toEqual([
      'ttm.tenant.registered.v1',
      ...Array(4).fill('ttm.tenant.provisioning-step-completed.v1'),
      'ttm.tenant.provisioned.v1',
    ]);
    const seqs = tenant.timeline.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(tenant.timeline[0]?.data).toMatchObject({ tenantId: id, organizationName: 'Initech' });
    expect(JSON.stringify(tenant)).not.toContain('argon2');

    const enterprise = await json<TenantDetail>(await admin(`/api/admin/tenants/${ids.get('Umbrella Labs')}`));
    expect(enterprise.placement?.kind).toBe('database');
  });

  it('answers 404 for an unknown id or slug and 400 for one that is neither a uuid nor a slug', async () => {
    const unknown = await problem(await admin(`/api/admin/tenants/${randomUUID()}`), 404);
    expect(unknown.type).toBe('https://ttm.dev/problems/tenant-not-found');
    await problem(await admin('/api/admin/tenants/no-such-slug'), 404);
    await problem(await admin('/api/admin/tenants/Not_A_Uuid'), 400);
  });
});

describe('suspend and activate', () => {
  const workspaceStatus = async (tenantId: string) => {
    const client = new pg.Client({ connectionString: stack.clusterUrls['us-east-1'] });
    await client.connect();
    try {
      const { rows } = await client.query<{ activationStatus: string }>(
        'SELECT "activationStatus" FROM core.workspace WHERE id = $1',
        [tenantId],
      );
      return rows[0]?.activationStatus;
    } finally {
      await client.end();
    }
  };

  it('suspends and reactivates, idempotently, and the Twenty workspace follows', async () => {
    const id = ids.get('Vandelay Industries')!;
    const post = (verb: string, body?: unknown) =>
      admin(`/api/admin/tenants/${id}/${verb}`, {
        method: 'POST',
        headers: { 'x-admin-actor': 'ops@example.test' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    const suspended = await json<TenantItem>(await post('suspend', { reason: 'unpaid invoice' }));
    expect(suspended).toMatchObject({ id, status: 'suspended', slug: 'vandelay-industries' });
    expect(stack.gateway!.deps.directory.get(id)?.status).toBe('suspended');
    await eventually(async () => ((await workspaceStatus(id)) === 'SUSPENDED' ? true : undefined));
    const detail = await json<TenantDetail>(await admin(`/api/admin/tenants/${id}`));
    expect(detail).toMatchObject({ status: 'suspended', suspended_reason: 'unpaid invoice' });
    expect(detail.timeline.at(-1)).toMatchObject({
      type: 'ttm.tenant.suspended.v1',
      data: { reason: 'unpaid invoice', actor: { kind: 'admin', id: 'ops@example.test' } },
    });

    expect(await json<TenantItem>(await post('suspend', { reason: 'again' }))).toMatchObject({ status: 'suspended' });
    expect(names(await listAll('&status=suspended'))).toEqual(['Vandelay Industries']);

    expect(await json<TenantItem>(await post('activate'))).toMatchObject({ id, status: 'active' });
    await eventually(async () => ((await workspaceStatus(id)) === 'ACTIVE' ? true : undefined));
    expect(await json<TenantItem>(await post('activate'))).toMatchObject({ status: 'active' });
    const events = (await json<TenantDetail>(await admin(`/api/admin/tenants/${id}`))).timeline.map((e) => e.type);
    expect(events.filter((t) => t === 'ttm.tenant.suspended.v1')).toHaveLength(1);
    expect(events.filter((t) => t === 'ttm.tenant.activated.v1')).toHaveLength(1);
  });

  it('refuses a tenant in the wrong status (409), an unknown one (404) and a missing reason (400)', async () => {
    const conflict = await problem(
      await admin(`/api/admin/tenants/${pendingTenant}/suspend`, {
        method: 'POST',
        body: JSON.stringify({ reason: 'x' }),
      }),
      409,
    );
    expect(conflict).toMatchObject({ type: 'https://ttm.dev/problems/tenant-state-conflict' });
    expect(conflict.detail).toContain('pending');
    await problem(await admin(`/api/admin/tenants/${pendingTenant}/activate`, { method: 'POST' }), 409);
    await problem(
      await admin(`/api/admin/tenants/${randomUUID()}/suspend`, {
        method: 'POST',
        body: JSON.stringify({ reason: 'x' }),
      }),
      404,
    );
    const id = ids.get('Acme Rockets')!;
    for (const body of [{ reason: '' }, { reason: '   ' }, { reason: 'x'.repeat(501) }]) {
      await problem(
        await admin(`/api/admin/tenants/${id}/suspend`, { method: 'POST', body: JSON.stringify(body) }),
        400,
      );
    }
    expect(stack.gateway!.deps.directory.get(id)?.status).toBe('active');
  });

  it("takes the seed's calls as written: suspend with no body, the slug in place of the id", async () => {
    const id = ids.get('Acme Rockets')!;
    const slug = stack.gateway!.deps.directory.get(id)!.slug!;
    expect(slug).toMatch(/^[a-z0-9-]+$/);
    // No body and no content type, as `POST /api/admin/tenants/:id/suspend` in the seed's README.
    const suspended = await json<TenantItem>(await admin(`/api/admin/tenants/${slug}/suspend`, { method: 'POST' }));
    expect(suspended).toMatchObject({ id, status: 'suspended' });
    const detail = await json<TenantDetail>(await admin(`/api/admin/tenants/${slug}`));
    expect(detail).toMatchObject({ id, status: 'suspended' });
    expect(detail.timeline.at(-1)).toMatchObject({ type: 'ttm.tenant.suspended.v1' });
    // Every /api/admin/tenants/{id}/... route resolves the slug.
    expect((await admin(`/api/admin/tenants/${slug}/quotas`)).status).toBe(200);
    expect((await admin(`/api/admin/tenants/${slug}/backups`)).status).toBe(200);
    expect(
      await json<TenantItem>(await admin(`/api/admin/tenants/${slug}/activate`, { method: 'POST' })),
    ).toMatchObject({ id, status: 'active' });
    await problem(await admin('/api/admin/tenants/no-such-tenant/suspend', { method: 'POST' }), 404);
    await problem(await admin('/api/admin/tenants/no-such-tenant'), 404);
  });
});

describe('gateway metrics', () => {
  it("carry the seed's tenant_created_total: tenants provisioned, fleet-wide", async () => {
    const provisioned = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM gateway.tenants WHERE provisioned_at IS NOT NULL',
    );
    expect(provisioned.rows[0]!.n).toBeGreaterThan(0);
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    const value = Number(/^tenant_created_total\{[^}]*\} (\d+)$/m.exec(text)?.[1]);
    expect(value).toBeGreaterThanOrEqual(provisioned.rows[0]!.n);
  });
});

describe('admin authentication', () => {
  async function adminOperations(): Promise<{ method: string; path: string }[]> {
    const document = await json<{
      paths: Record<string, Record<string, { security?: unknown; responses?: Record<string, unknown> }>>;
    }>(await fetch(`${stack.url}/docs/openapi.json`));
    const operations: { method: string; path: string }[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      if (!path.startsWith('/api/admin')) continue;
      for (const [method, operation] of Object.entries(methods)) {
        expect(operation.security, `${method} ${path}`).toEqual([{ adminKey: [] }]);
        const codes = Object.keys(operation.responses ?? {});
        expect(codes, `${method} ${path}`).toContain('401');
        expect(
          // 101: the live stream (a WebSocket upgrade).
          codes.some((code) => code.startsWith('2') || code === '101'),
          `${method} ${path} documents a success`,
        ).toBe(true);
        operations.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, ids.get('Initech')!) });
      }
    }
    return operations;
  }

  it('refuses every admin route without the key, with a wrong key, or with a tenant bearer token', async () => {
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bill@initech.test', password: PASSWORD }),
    });
    const { access_token: token } = await json<{ access_token: string }>(login);

    const operations = await adminOperations();
    expect(operations.length).toBeGreaterThanOrEqual(6);
    const attempts: Record<string, Record<string, string>> = {
      'no key': {},
      'wrong key': { 'x-admin-key': `${TEST_ADMIN_KEY}x` },
      'empty key': { 'x-admin-key': '' },
      'tenant token': { authorization: `Bearer ${token}` },
      'tenant token as the key': { 'x-admin-key': token },
    };
    for (const { method, path } of operations) {
      for (const [label, headers] of Object.entries(attempts)) {
        const response = await fetch(`${stack.url}${path}`, {
          method,
          headers: { ...headers, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
          ...(method === 'POST' ? { body: JSON.stringify({ reason: 'no' }) } : {}),
        });
        const refused = await problem(response, 401);
        expect(refused.type, `${label}: ${method} ${path}`).toBe('https://ttm.dev/problems/unauthorized');
        expect(response.headers.get('www-authenticate')).toBeNull();
      }
    }
    expect(stack.gateway!.deps.directory.get(ids.get('Initech')!)?.status).toBe('active');
  });
});

describe('GET /api/admin/audit', () => {
  const audit = async (query: string) =>
    json<{ items: AuditItem[]; next_cursor: string | null }>(await admin(`/api/admin/audit?${query}`));

  it('finds suspensions, activations and failed admin logins, filtered by tenant, actor, action and time', async () => {
    const id = ids.get('Hooli XYZ')!;
    const started = new Date().toISOString();
    const suspend = await admin(`/api/admin/tenants/${id}/suspend`, {
      method: 'POST',
      headers: { 'x-admin-actor': 'auditor@example.test', 'x-request-id': 'audit-suspend-1' },
      body: JSON.stringify({ reason: 'abuse report' }),
    });
    expect(suspend.status).toBe(200);
    await admin(`/api/admin/tenants/${id}/activate`, {
      method: 'POST',
      headers: { 'x-admin-actor': 'auditor@example.test' },
    });

    const forTenant = await eventually(async () => {
      const page = await audit(`tenant=${id}`);
      return page.items.length >= 2 ? page : undefined;
    });
    expect(forTenant.items.map((e) => e.action)).toEqual(['tenant-activated', 'tenant-suspended']);
    expect(forTenant.items[1]).toMatchObject({
      actor: { kind: 'admin', id: 'auditor@example.test' },
      action: 'tenant-suspended',
      scope: id,
      target: id,
      target_kind: 'tenant',
      request_id: 'audit-suspend-1',
      client_address: expect.stringMatching(/127\.0\.0\.1/),
      outcome: 'success',
      detail: expect.stringContaining('abuse report'),
    });

    // The authentication test before this one failed 30 times from this address: only the budget is audited.
    const failures = await eventually(async () => {
      const page = await audit('action=admin-auth-failed&limit=200');
      return page.items.length >= AUDITED_AUTH_FAILURES_PER_ADDRESS ? page : undefined;
    });
    expect(failures.items).toHaveLength(AUDITED_AUTH_FAILURES_PER_ADDRESS);
    for (const entry of failures.items) {
      expect(entry).toMatchObject({ action: 'admin-auth-failed', scope: 'system', outcome: 'failure' });
      expect(entry.target).toMatch(/^(GET|POST|PUT|DELETE) \/api\/admin\//);
    }
    expect(failures.items.map((e) => e.detail)).toContainEqual(expect.stringContaining('bearer token'));
    expect(JSON.stringify(failures)).not.toContain(TEST_ADMIN_KEY);
    expect((await audit(`action=admin-auth-failed&from=${encodeURIComponent(started)}`)).items).toHaveLength(0);

    const byActor = await audit('actor=admin:auditor@example.test');
    expect(byActor.items).toHaveLength(2);
    expect((await audit('actor=auditor@example.test')).items).toHaveLength(2);
    expect((await audit(`tenant=${id}&to=${encodeURIComponent(started)}`)).items).toHaveLength(0);
    const conflicts = await audit(`tenant=${pendingTenant}`);
    expect(conflicts.items.every((e) => e.outcome === 'failure')).toBe(true);
    expect(conflicts.items.length).toBeGreaterThanOrEqual(2);
  });

  it('pages through the log newest first', async () => {
    const all = (await audit('limit=200')).items;
    expect(all.length).toBeGreaterThan(3);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: AuditItem[]; next_cursor: string | null } = await audit(
        `limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.items.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.map((e) => e.id));
    expect(all.map((e) => e.time)).toEqual([...all.map((e) => e.time)].sort().reverse());
    await problem(await admin('/api/admin/audit?cursor=abc'), 400);
    await problem(await admin('/api/admin/audit?from=yesterday'), 400);
  });
});

describe('GET /api/admin/stats', () => {
  it('counts tenants by status, plan and region and reports provisioning', async () => {
    const stats = await json<FleetStats>(await admin('/api/admin/stats'));
    const items = await listAll();
    const countBy = (key: 'status' | 'plan' | 'region') => {
      const counts: Record<string, number> = {};
      for (const t of items) counts[t[key]] = (counts[t[key]] ?? 0) + 1;
      return counts;
    };
    expect(stats.tenants).toEqual({
      total: items.length,
      by_status: countBy('status'),
      by_plan: countBy('plan'),
      by_region: countBy('region'),
    });
    expect(stats.provisioning).toMatchObject({ completed: seeds.length, failed: 0 });
    expect(stats.provisioning.queue_depth).toBeGreaterThanOrEqual(0);
    const { p50, p95, p99 } = stats.provisioning.duration_seconds;
    expect(p50).toBeGreaterThan(0);
    expect(p95).toBeGreaterThanOrEqual(p50!);
    expect(p99).toBeGreaterThanOrEqual(p95!);
  });
});

describe('replay', () => {
  it('rebuilds the gateway projections to the same rows', async () => {
    await eventually(async () => {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM gateway.audit_log WHERE action = 'tenant-activated'`,
      );
      return rows[0]!.n >= 2 ? true : undefined;
    });
    await stack.gateway!.stop();
    const snapshot = async () => ({
      tenants: (await db.query('SELECT * FROM gateway.tenants ORDER BY tenant_id')).rows,
      operations: (await db.query('SELECT * FROM gateway.operations ORDER BY operation_id')).rows,
      audit: (await db.query('SELECT * FROM gateway.audit_log ORDER BY seq')).rows,
    });
    const before = await snapshot();
    expect(before.tenants).toHaveLength(seeds.length + 1);
    expect(before.operations).toHaveLength(seeds.length + 1);

    const logger = createLogger('replay-test', 'silent');
    const link = await connectNats(stack.nats.url, 'ttm-replay-test', logger);
    try {
      await db.query('UPDATE gateway.tenants SET status = $1', ['failed']); // replay must not keep anything
      for (const projection of projections) {
        const { applied } = await replayProjection({ nc: link.nc, pool: db, projection, logger });
        expect(applied, projection.name).toBeGreaterThan(0);
      }
    } finally {
      await link.nc.close();
    }
    expect(await snapshot()).toEqual(before);
  });
});
