import { DeliverPolicy } from '@nats-io/jetstream';
import { encodeMessage, Streams, SuspendTenant } from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../../../test/support/http.js';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { tenantApiProblemTypes } from '../src/features/tenantApi/problems.js';
import type { Gateway } from '../src/gateway.js';
import { type Problem, problemTypes } from '../src/problems.js';

const PASSWORD = 'correct-Horse-battery-9';

let stack: TestStack;

interface Org {
  tenantId: string;
  slug: string;
  email: string;
  token: string;
  userId: string;
  schema: string;
  database: string;
}

let a: Org;
let b: Org;

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

function call(
  method: Method,
  url: string,
  auth: { token?: string; apiKey?: string; bearerKey?: string; headers?: Record<string, string> },
  payload?: unknown,
  gateway: Gateway = stack.gateway!,
) {
  const headers: Record<string, string> = { ...auth.headers };
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  if (auth.bearerKey) headers.authorization = `Bearer ${auth.bearerKey}`;
  if (auth.apiKey) headers['x-api-key'] = auth.apiKey;
  return gateway.app.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

const as = (org: Org) => ({ token: org.token });

function problemOf(response: LightMyRequestResponse): Problem & Record<string, unknown> {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json();
}

async function activeOrganization(name: string, email: string): Promise<Org> {
  const { entry, token, userId } = await signUp(stack.gateway!, { name, email, password: PASSWORD, plan: 'pro' });
  return {
    tenantId: entry.tenantId,
    slug: entry.slug!,
    email,
    token,
    userId,
    schema: entry.placement!.schema,
    database: entry.placement!.database,
  };
}

/** A direct connection to a tenant's data-plane database, to check what the API wrote. */
async function dataPlane<T>(org: Org, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = new URL(stack.env.DATABASE_URL!);
  url.pathname = `/${org.database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function rowCount(org: Org, table: string): Promise<number> {
  return dataPlane(org, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(org.schema)}.${pg.escapeIdentifier(table)}`,
    );
    return rows[0]!.n;
  });
}

/** Users as metering counts them (services/metering/src/sampling/usageSampler.ts). */
async function meteredUsers(org: Org): Promise<number> {
  return dataPlane(org, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM core."userWorkspace" WHERE "workspaceId" = $1 AND "deletedAt" IS NULL`,
      [org.tenantId],
    );
    return rows[0]!.n;
  });
}

async function auditEntries(): Promise<Record<string, unknown>[]> {
  const js = stack.gateway!.deps.js;
  const consumer = await js.consumers.get(Streams.AUDIT, { deliver_policy: DeliverPolicy.All });
  const pending = (await consumer.info(true)).num_pending;
  const entries: Record<string, unknown>[] = [];
  if (pending === 0) return entries;
  for await (const message of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
    entries.push(message.json<Record<string, unknown>>());
    if (entries.length >= pending) break;
  }
  return entries;
}

async function createKey(org: Org, name: string, extra: Record<string, unknown> = {}) {
  const response = await call('POST', '/api/tenant/api-keys', as(org), { name, ...extra });
  expect(response.statusCode).toBe(201);
  return response.json<{ id: string; key: string; status: string }>();
}

beforeAll(async () => {
  // A long cache TTL: revocations must reach every instance over NATS, not by expiry.
  stack = await startStack({ env: { API_KEY_CACHE_TTL: '60s', ENABLE_RATE_LIMITING: 'false' } });
  [a, b] = await Promise.all([
    activeOrganization('Alpha Isolation', 'admin@alpha.test'),
    activeOrganization('Beta Isolation', 'admin@beta.test'),
  ]);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('records', () => {
  it('creates, reads, pages, filters, changes and soft-deletes records in the caller workspace', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `Company ${i}`);
    const created: { id: string; name: string }[] = [];
    for (const name of names) {
      const response = await call('POST', '/api/tenant/objects/company', as(a), {
        name,
        employees: 10,
        annualRecurringRevenueAmountMicros: 5_000_000_000,
        annualRecurringRevenueCurrencyCode: 'EUR',
        idealCustomerProfile: name.endsWith('3'),
      });
      expect(response.statusCode).toBe(201);
      const record = response.json<{ id: string; name: string; annualRecurringRevenueAmountMicros: number }>();
      expect(response.headers.location).toBe(`/api/tenant/objects/company/${record.id}`);
      expect(record.annualRecurringRevenueAmountMicros).toBe(5_000_000_000);
      created.push(record);
    }

    // Keyset pages: 3 + 3 + 1, no overlap, every record once, creation order.
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/tenant/objects/company?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await call('GET', url, as(a));
      expect(page.statusCode).toBe(200);
      const body = page.json<{ items: { id: string }[]; next_cursor: string | null }>();
      seen.push(...body.items.map((r) => r.id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(created.map((c) => c.id));

    const filtered = await call('GET', '/api/tenant/objects/company?idealCustomerProfile=true', as(a));
    expect(filtered.json<{ items: { name: string }[] }>().items.map((r) => r.name)).toEqual(['Company 3']);
    const byName = await call('GET', '/api/tenant/objects/company?name=Company%205', as(a));
    expect(byName.json<{ items: { id: string }[] }>().items.map((r) => r.id)).toEqual([created[5]!.id]);

    const target = created[0]!;
    const patched = await call('PATCH', `/api/tenant/objects/company/${target.id}`, as(a), {
      name: 'Renamed',
      employees: null,
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: target.id, name: 'Renamed', employees: null });
    expect((await call('GET', `/api/tenant/objects/company/${target.id}`, as(a))).json()).toMatchObject({
      name: 'Renamed',
    });

    // Relations: a person of a company of this workspace.
    const person = await call('POST', '/api/tenant/objects/person', as(a), {
      nameFirstName: 'Ada',
      emailsPrimaryEmail: 'ada@alpha.test',
      companyId: target.id,
    });
    expect(person.statusCode).toBe(201);
    const people = await call('GET', `/api/tenant/objects/person?companyId=${target.id}`, as(a));
    expect(people.json<{ items: { id: string }[] }>().items).toHaveLength(1);

    const deleted = await call('DELETE', `/api/tenant/objects/company/${target.id}`, as(a));
    expect(deleted.statusCode).toBe(204);
    const gone = await call('GET', `/api/tenant/objects/company/${target.id}`, as(a));
    expect(gone.statusCode).toBe(404);
    expect(problemOf(gone).type).toBe(tenantApiProblemTypes.recordNotFound);
    expect((await call('DELETE', `/api/tenant/objects/company/${target.id}`, as(a))).statusCode).toBe(404);
    const list = await call('GET', '/api/tenant/objects/company?limit=200', as(a));
    expect(list.json<{ items: { id: string }[] }>().items.map((r) => r.id)).not.toContain(target.id);
    // Soft delete: the row is still there, with deletedAt.
    const deletedAt = await dataPlane(a, async (client) => {
      const { rows } = await client.query(
        `SELECT "deletedAt" FROM ${pg.escapeIdentifier(a.schema)}.company WHERE id = $1`,
        [target.id],
      );
      return rows[0]?.deletedAt;
    });
    expect(deletedAt).toBeInstanceOf(Date);
  });

  it('serves every standard object', async () => {
    const bodies: Record<string, Record<string, unknown>> = {
      opportunity: { name: 'Big deal', stage: 'PROPOSAL', amountAmountMicros: 1_000_000, amountCurrencyCode: 'USD' },
      note: { title: 'Call notes', bodyV2Markdown: '# Hello' },
      task: { title: 'Follow up', status: 'TODO', dueAt: '2030-01-01T10:00:00.000Z' },
    };
    for (const [object, body] of Object.entries(bodies)) {
      const created = await call('POST', `/api/tenant/objects/${object}`, as(a), body);
      expect(created.statusCode, object).toBe(201);
      const { id } = created.json<{ id: string }>();
      expect((await call('GET', `/api/tenant/objects/${object}/${id}`, as(a))).json()).toMatchObject(body);
    }
  });

  it('creates once per Idempotency-Key, per organization', async () => {
    const key = { 'idempotency-key': 'create-note-1' };
    const first = await call('POST', '/api/tenant/objects/note', { token: a.token, headers: key }, { title: 'Once' });
    expect(first.statusCode).toBe(201);
    const again = await call('POST', '/api/tenant/objects/note', { token: a.token, headers: key }, { title: 'Once' });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json<{ id: string }>().id).toBe(first.json<{ id: string }>().id);
    const other = await call('POST', '/api/tenant/objects/note', { token: a.token, headers: key }, { title: 'Twice' });
    expect(other.statusCode).toBe(422);
    const notes = await dataPlane(a, (client) =>
      client.query(`SELECT id FROM ${pg.escapeIdentifier(a.schema)}.note WHERE title = 'Once'`),
    );
    expect(notes.rowCount).toBe(1);
    // The same key from another organization is another request.
    const beta = await call('POST', '/api/tenant/objects/note', { token: b.token, headers: key }, { title: 'Once' });
    expect(beta.statusCode).toBe(201);
    expect(beta.headers['idempotent-replayed']).toBeUndefined();
    expect(beta.json<{ id: string }>().id).not.toBe(first.json<{ id: string }>().id);
  });

  it('refuses bad input with 400 problem+json and writes nothing', async () => {
    const before = await rowCount(a, 'company');
    const cases: [Method, string, unknown][] = [
      ['POST', '/api/tenant/objects/company', { name: 'X', nosuchfield: 1 }],
      ['POST', '/api/tenant/objects/company', { name: 42 }],
      ['POST', '/api/tenant/objects/company', { employees: -1 }],
      ['POST', '/api/tenant/objects/company', { annualRecurringRevenueCurrencyCode: 'euro' }],
      ['POST', '/api/tenant/objects/company', { accountOwnerId: 'not-a-uuid' }],
      ['POST', '/api/tenant/objects/company', { name: 'x'.repeat(501) }],
      ['POST', '/api/tenant/objects/company', { name: 'X', id: '00000000-0000-4000-8000-000000000000' }],
      ['POST', '/api/tenant/objects/company', { name: 'X', deletedAt: '2020-01-01T00:00:00Z' }],
      ['POST', '/api/tenant/objects/person', { emailsPrimaryEmail: 'not an email' }],
      ['POST', '/api/tenant/objects/opportunity', { stage: 'WON' }],
      ['PATCH', '/api/tenant/objects/company/00000000-0000-4000-8000-000000000000', {}],
      ['PATCH', '/api/tenant/objects/company/not-a-uuid', { name: 'X' }],
      ['GET', '/api/tenant/objects/company/not-a-uuid', undefined],
      ['GET', '/api/tenant/objects/company?limit=0', undefined],
      ['GET', '/api/tenant/objects/company?limit=1000', undefined],
      ['GET', '/api/tenant/objects/company?cursor=garbage', undefined],
      ['GET', '/api/tenant/objects/company?nosuchfilter=1', undefined],
      ['GET', '/api/tenant/objects/company?employees=10', undefined],
    ];
    for (const [method, url, payload] of cases) {
      const response = await call(method, url, as(a), payload);
      expect(response.statusCode, `${method} ${url} ${JSON.stringify(payload)}`).toBe(400);
      expect(problemOf(response).status).toBe(400);
    }
    const unknownField = await call('POST', '/api/tenant/objects/company', as(a), { name: 'X', nosuchfield: 1 });
    expect(problemOf(unknownField)).toMatchObject({ type: problemTypes.validation });
    expect(problemOf(unknownField).errors?.[0]).toMatchObject({ in: 'body', name: 'nosuchfield' });

    const malformed = await stack.gateway!.app.inject({
      method: 'POST',
      url: '/api/tenant/objects/company',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(malformed.statusCode).toBe(400);
    expect(problemOf(malformed).type).toBe(problemTypes.malformedBody);

    for (const url of ['/api/tenant/objects/workspaceMember', '/api/tenant/objects/pg_catalog.pg_user']) {
      const response = await call('GET', url, as(a));
      expect(response.statusCode).toBe(404);
      expect(problemOf(response).type).toBe(tenantApiProblemTypes.unknownObject);
    }
    const unknownWrite = await call('POST', '/api/tenant/objects/attachment', as(a), { name: 'x' });
    expect(unknownWrite.statusCode).toBe(404);
    expect(await rowCount(a, 'attachment')).toBe(0);
    expect(await rowCount(a, 'company')).toBe(before);
  });

  it('answers without credentials or with a bad token as 401', async () => {
    expect((await call('GET', '/api/tenant/objects/company', {})).statusCode).toBe(401);
    expect((await call('GET', '/api/tenant/objects/company', { token: 'not.a.jwt' })).statusCode).toBe(401);
    expect((await call('POST', '/api/tenant/objects/company', {}, { name: 'X' })).statusCode).toBe(401);
  });
});

describe('users', () => {
  it('invites a user with every Twenty row in one go, lists and removes it, matching the metered count', async () => {
    const before = await call('GET', '/api/tenant/users', as(a));
    expect(before.statusCode).toBe(200);
    const admins = before.json<{ items: { id: string; email: string; role: string }[] }>().items;
    expect(admins).toEqual([expect.objectContaining({ id: a.userId, email: a.email, role: 'Admin' })]);
    expect(await meteredUsers(a)).toBe(1);

    const invited = await call('POST', '/api/tenant/users', as(a), {
      email: 'Grace@Alpha.test',
      first_name: 'Grace',
      last_name: 'Hopper',
    });
    expect(invited.statusCode).toBe(201);
    const user = invited.json<{ id: string; email: string; role: string; workspace_member_id: string }>();
    expect(user).toMatchObject({ email: 'grace@alpha.test', role: 'Member', first_name: 'Grace' });

    const rows = await dataPlane(a, async (client) => {
      const core = await client.query(
        `SELECT u."defaultWorkspaceId", u."passwordHash", uw.id AS uw, r.label
           FROM core."user" u JOIN core."userWorkspace" uw ON uw."userId" = u.id
           JOIN core."roleTarget" rt ON rt."userWorkspaceId" = uw.id JOIN core.role r ON r.id = rt."roleId"
          WHERE u.id = $1`,
        [user.id],
      );
      const member = await client.query(
        `SELECT id, "userEmail", "nameFirstName", "nameLastName" FROM ${pg.escapeIdentifier(a.schema)}."workspaceMember" WHERE "userId" = $1`,
        [user.id],
      );
      return { core: core.rows, member: member.rows };
    });
    expect(rows.core).toEqual([expect.objectContaining({ defaultWorkspaceId: a.tenantId, label: 'Member' })]);
    expect(rows.member).toEqual([
      {
        id: user.workspace_member_id,
        userEmail: 'grace@alpha.test',
        nameFirstName: 'Grace',
        nameLastName: 'Hopper',
      },
    ]);
    expect(await meteredUsers(a)).toBe(2);
    const listed = (await call('GET', '/api/tenant/users', as(a))).json<{ items: { id: string }[] }>().items;
    expect(listed.map((u) => u.id)).toEqual([a.userId, user.id]);

    const again = await call('POST', '/api/tenant/users', as(a), { email: 'grace@alpha.test' });
    expect(again.statusCode).toBe(409);
    expect(problemOf(again).type).toBe(tenantApiProblemTypes.userExists);

    const self = await call('DELETE', `/api/tenant/users/${a.userId}`, as(a));
    expect(self.statusCode).toBe(409);
    expect(problemOf(self).type).toBe(tenantApiProblemTypes.userRemovalRefused);

    expect((await call('DELETE', `/api/tenant/users/${user.id}`, as(a))).statusCode).toBe(204);
    expect((await call('DELETE', `/api/tenant/users/${user.id}`, as(a))).statusCode).toBe(404);
    expect(await meteredUsers(a)).toBe(1);
    const after = (await call('GET', '/api/tenant/users', as(a))).json<{ items: { id: string }[] }>().items;
    expect(after.map((u) => u.id)).toEqual([a.userId]);
    // Removed as Twenty removes: soft-deleted, its workspaceMember too; invited again, it comes back as a new user.
    const member = await dataPlane(a, (client) =>
      client.query(`SELECT "deletedAt" FROM ${pg.escapeIdentifier(a.schema)}."workspaceMember" WHERE "userId" = $1`, [
        user.id,
      ]),
    );
    expect(member.rows[0]?.deletedAt).toBeInstanceOf(Date);
    const reinvited = await call('POST', '/api/tenant/users', as(a), { email: 'grace@alpha.test', role: 'Admin' });
    expect(reinvited.statusCode).toBe(201);
    expect(reinvited.json()).toMatchObject({ role: 'Admin' });
    expect(await meteredUsers(a)).toBe(2);

    const entries = await auditEntries();
    expect(entries.filter((e) => e.scope === a.tenantId).map((e) => e.action)).toEqual(
      expect.arrayContaining(['user-invited', 'user-removed']),
    );
  });

  it("revokes a removed user's API keys", async () => {
    const invited = await call('POST', '/api/tenant/users', as(a), { email: 'leaver@alpha.test', role: 'Admin' });
    const leaver = invited.json<{ id: string }>().id;
    // Invited users have no password yet, so the key is made as the key routes make one, for that user.
    const { key } = await stack.gateway!.deps.apiKeys.create({
      tenantId: a.tenantId,
      name: 'leaver key',
      createdBy: leaver,
      expiresAt: null,
    });
    expect((await call('GET', '/api/tenant/me', { apiKey: key })).json()).toMatchObject({ user_id: leaver });
    expect((await call('DELETE', `/api/tenant/users/${leaver}`, as(a))).statusCode).toBe(204);
    expect((await call('GET', '/api/tenant/me', { apiKey: key })).statusCode).toBe(401);
  });

  it('refuses bad invitations with 400 and writes nothing', async () => {
    const before = await meteredUsers(a);
    for (const body of [
      {},
      { email: 'not-an-email' },
      { email: 'x@alpha.test', role: 'Owner' },
      { email: 'x@alpha.test', admin: true },
    ]) {
      const response = await call('POST', '/api/tenant/users', as(a), body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(problemOf(response).type).toBe(problemTypes.validation);
    }
    expect((await call('DELETE', '/api/tenant/users/not-a-uuid', as(a))).statusCode).toBe(400);
    expect(await meteredUsers(a)).toBe(before);
  });
});

describe('API keys', () => {
  it('creates a key shown once, authenticates with it, and refuses it on every instance within 1 s of revocation', async () => {
    const other = await stack.startExtraGateway();
    const created = await createKey(a, 'sync job');
    expect(created.key).toMatch(/^ttm_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$/);
    expect(created.status).toBe('active');

    const listed = await call('GET', '/api/tenant/api-keys', as(a));
    expect(listed.statusCode).toBe(200);
    expect(listed.payload).not.toContain(created.key.slice(-43));
    expect(listed.json<{ items: { id: string; name: string }[] }>().items).toContainEqual(
      expect.objectContaining({ id: created.id, name: 'sync job', status: 'active' }),
    );
    // Stored hashed: the secret is nowhere in the table.
    const stored = await stack.gateway!.deps.pool.query(`SELECT * FROM gateway.api_keys WHERE id = $1`, [created.id]);
    expect(JSON.stringify(stored.rows)).not.toContain(created.key.slice(-43));

    for (const credential of [{ apiKey: created.key }, { bearerKey: created.key }]) {
      const me = await call('GET', '/api/tenant/me', credential);
      expect(me.statusCode).toBe(200);
      expect(me.json()).toMatchObject({ tenant_id: a.tenantId, user_id: a.userId, via: 'api-key' });
    }
    const written = await call('POST', '/api/tenant/objects/note', { apiKey: created.key }, { title: 'by key' });
    expect(written.statusCode).toBe(201);
    // Warm the other instance's cache, so only the revocation message can make it refuse.
    expect((await call('GET', '/api/tenant/me', { apiKey: created.key }, undefined, other)).statusCode).toBe(200);

    // A key without the api-keys:manage scope cannot manage keys.
    const minted = await call('POST', '/api/tenant/api-keys', { apiKey: created.key }, { name: 'escalate' });
    expect(minted.statusCode).toBe(403);
    expect(problemOf(minted).type).toBe(tenantApiProblemTypes.insufficientScope);

    const revokedAt = Date.now();
    expect((await call('DELETE', `/api/tenant/api-keys/${created.id}`, as(a))).statusCode).toBe(204);
    expect((await call('GET', '/api/tenant/me', { apiKey: created.key })).statusCode).toBe(401);
    const refused = await eventually(async () => {
      const answer = await call('GET', '/api/tenant/me', { apiKey: created.key }, undefined, other);
      return answer.statusCode === 401 ? answer : undefined;
    }, 1_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(problemOf(refused).type).toBe(tenantApiProblemTypes.invalidApiKey);
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await call('DELETE', `/api/tenant/api-keys/${created.id}`, as(a))).statusCode).toBe(204);
    const after = (await call('GET', '/api/tenant/api-keys', as(a))).json<{
      items: { id: string; status: string }[];
    }>();
    expect(after.items.find((k) => k.id === created.id)?.status).toBe('revoked');

    const entries = await auditEntries();
    const actions = entries.filter((e) => e.scope === a.tenantId).map((e) => e.action);
    expect(actions.filter((action) => action === 'api-key-revoked')).toHaveLength(1);
    expect(actions).toContain('api-key-created');
  });

  it('refuses malformed, unknown, tampered and expired keys', async () => {
    const created = await createKey(a, 'short lived', { expires_at: new Date(Date.now() + 1_500).toISOString() });
    expect((await call('GET', '/api/tenant/me', { apiKey: created.key })).statusCode).toBe(200);
    const tampered = `${created.key.slice(0, -1)}${created.key.endsWith('A') ? 'B' : 'A'}`;
    const unknown = `ttm_${'0'.repeat(32)}_${'A'.repeat(43)}`;
    for (const key of ['ttm_nope', tampered, unknown]) {
      const response = await call('GET', '/api/tenant/me', { apiKey: key });
      expect(response.statusCode, key).toBe(401);
      expect(problemOf(response).type).toBe(tenantApiProblemTypes.invalidApiKey);
    }
    // Two different credentials at once are refused rather than guessed between.
    expect((await call('GET', '/api/tenant/me', { apiKey: created.key, token: b.token })).statusCode).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect((await call('GET', '/api/tenant/me', { apiKey: created.key })).statusCode).toBe(401);

    for (const body of [
      {},
      { name: '' },
      { name: 'x', expires_at: '2001-01-01T00:00:00Z' },
      { name: 'x', scope: 'all' },
    ]) {
      const response = await call('POST', '/api/tenant/api-keys', as(a), body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(problemOf(response).type).toBe(problemTypes.validation);
    }
  });
});

describe('isolation', () => {
  it('keeps tenant B out of tenant A on every tenant route, whatever ids, names or headers it sends', async () => {
    // Tenant A's things.
    const aKey = await createKey(a, 'alpha key');
    const aUser = (await call('POST', '/api/tenant/users', as(a), { email: 'member@alpha.test' })).json<{
      id: string;
    }>();
    const aCompany = (await call('POST', '/api/tenant/objects/company', as(a), { name: 'Alpha Secret Co' })).json<{
      id: string;
    }>();
    const aRecords: Record<string, string> = { company: aCompany.id };
    for (const [object, body] of Object.entries({
      person: { nameFirstName: 'Alpha', companyId: aCompany.id },
      opportunity: { name: 'Alpha deal', companyId: aCompany.id },
      note: { title: 'Alpha note' },
      task: { title: 'Alpha task' },
    })) {
      const response = await call('POST', `/api/tenant/objects/${object}`, as(a), body);
      expect(response.statusCode).toBe(201);
      aRecords[object] = response.json<{ id: string }>().id;
    }
    const snapshot = async () => ({
      users: (await call('GET', '/api/tenant/users', as(a))).payload,
      keys: (await call('GET', '/api/tenant/api-keys', as(a))).payload,
      records: await Promise.all(
        Object.entries(aRecords).map(
          async ([o, id]) => (await call('GET', `/api/tenant/objects/${o}/${id}`, as(a))).payload,
        ),
      ),
    });
    const before = await snapshot();

    const bKey = await createKey(b, 'beta key');
    // Attempts to name tenant A some other way than the credential: ignored.
    const spoof = { 'x-tenant-id': a.tenantId, 'x-tenant': a.slug, host: `${a.slug}.example.test` };
    for (const credential of [
      { token: b.token, headers: spoof },
      { apiKey: bKey.key, headers: spoof },
    ]) {
      const me = await call('GET', '/api/tenant/me', credential);
      expect(me.json()).toMatchObject({ tenant_id: b.tenantId });

      // API keys
      if ('token' in credential) {
        const keys = await call('GET', '/api/tenant/api-keys', credential);
        expect(keys.statusCode).toBe(200);
        expect(keys.payload).not.toContain(aKey.id);
        expect((await call('DELETE', `/api/tenant/api-keys/${aKey.id}`, credential)).statusCode).toBe(404);
      }

      // Users
      const users = await call('GET', '/api/tenant/users', credential);
      expect(users.statusCode).toBe(200);
      expect(users.payload).not.toContain(aUser.id);
      expect(users.payload).not.toContain('alpha.test');
      // B's admin token finds nothing of A's; B's key (no users:manage scope) may not try.
      const removal = 'token' in credential ? 404 : 403;
      expect((await call('DELETE', `/api/tenant/users/${aUser.id}`, credential)).statusCode).toBe(removal);
      expect((await call('DELETE', `/api/tenant/users/${a.userId}`, credential)).statusCode).toBe(removal);

      // Records of every object
      for (const [object, id] of Object.entries(aRecords)) {
        const list = await call('GET', `/api/tenant/objects/${object}?limit=200`, credential);
        expect(list.statusCode).toBe(200);
        expect(list.payload).not.toContain(id);
        expect(list.payload).not.toContain('Alpha');
        const read = await call('GET', `/api/tenant/objects/${object}/${id}`, credential);
        expect(read.statusCode, `${object} read`).toBe(404);
        expect(problemOf(read).type).toBe(tenantApiProblemTypes.recordNotFound);
        const change = await call('PATCH', `/api/tenant/objects/${object}/${id}`, credential, { position: 1 });
        expect(change.statusCode, `${object} patch`).toBe(404);
        expect((await call('DELETE', `/api/tenant/objects/${object}/${id}`, credential)).statusCode).toBe(404);
      }
      // Filters and relations cannot reach across either.
      const filtered = await call('GET', `/api/tenant/objects/person?companyId=${aCompany.id}`, credential);
      expect(filtered.json<{ items: unknown[] }>().items).toEqual([]);
      const linked = await call('POST', '/api/tenant/objects/person', credential, { companyId: aCompany.id });
      expect(linked.statusCode).toBe(400);
      expect(problemOf(linked).type).toBe(tenantApiProblemTypes.invalidReference);
      // Object names are an allow-list: A's schema cannot be named.
      const named = await call('GET', `/api/tenant/objects/${a.schema}.company`, credential);
      expect(named.statusCode).toBe(404);
    }

    // An invitation by B of A's admin email lands in B's workspace only.
    const invited = await call('POST', '/api/tenant/users', { token: b.token }, { email: a.email });
    expect(invited.statusCode).toBe(201);
    const invitedId = invited.json<{ id: string }>().id;
    expect((await call('GET', '/api/tenant/users', as(a))).payload).not.toContain(invitedId);
    // A's key is A's alone: with it, B's records are out of reach too.
    const bCompany = (await call('POST', '/api/tenant/objects/company', { token: b.token }, { name: 'Beta Co' })).json<{
      id: string;
    }>();
    expect((await call('GET', `/api/tenant/objects/company/${bCompany.id}`, { apiKey: aKey.key })).statusCode).toBe(
      404,
    );

    expect(await snapshot()).toEqual(before);
    expect((await call('GET', '/api/tenant/me', { apiKey: aKey.key })).json()).toMatchObject({ tenant_id: a.tenantId });
    // Nothing of B's went into A's schema.
    const alphaNames = await dataPlane(a, async (client) => {
      const { rows } = await client.query(`SELECT name FROM ${pg.escapeIdentifier(a.schema)}.company`);
      return rows.map((r) => r.name as string);
    });
    expect(alphaNames).not.toContain('Beta Co');
  });
});

describe('suspension', () => {
  it("refuses a suspended organization's API keys like its tokens", async () => {
    const key = await createKey(b, 'before suspension');
    expect((await call('GET', '/api/tenant/objects/company', { apiKey: key.key })).statusCode).toBe(200);
    const message = encodeMessage(
      SuspendTenant,
      { tenantId: b.tenantId, reason: 'unpaid invoice', actor: { kind: 'admin', id: 'tenant-api-test' } },
      { source: '/ttm/test' },
    );
    await publishMessage(stack.gateway!.deps.js, SuspendTenant.subject, message);
    const refused = await eventually(async () => {
      const answer = await call('GET', '/api/tenant/objects/company', { apiKey: key.key });
      return answer.statusCode === 403 ? answer : undefined;
    }, 5_000);
    expect(problemOf(refused).code).toBe('TTM_TENANT_SUSPENDED');
    expect((await call('GET', '/api/tenant/objects/company', { token: b.token })).statusCode).toBe(403);
  });
});

describe('OpenAPI', () => {
  it('documents every tenant API route, and not the catch-all for unknown objects', async () => {
    const response = await stack.gateway!.app.inject({ method: 'GET', url: '/docs/openapi.json' });
    const document = response.json<{ paths: Record<string, Record<string, unknown>> }>();
    expect(Object.keys(document.paths['/api/tenant/api-keys'] ?? {})).toEqual(expect.arrayContaining(['get', 'post']));
    expect(document.paths['/api/tenant/api-keys/{id}']).toHaveProperty('delete');
    expect(Object.keys(document.paths['/api/tenant/users'] ?? {})).toEqual(expect.arrayContaining(['get', 'post']));
    expect(document.paths['/api/tenant/me']).toHaveProperty('get');
    for (const object of ['company', 'person', 'opportunity', 'note', 'task']) {
      expect(Object.keys(document.paths[`/api/tenant/objects/${object}`] ?? {})).toEqual(
        expect.arrayContaining(['get', 'post']),
      );
      expect(Object.keys(document.paths[`/api/tenant/objects/${object}/{id}`] ?? {})).toEqual(
        expect.arrayContaining(['get', 'patch', 'delete']),
      );
    }
    expect(document.paths['/api/tenant/objects/{object}']).toBeUndefined();
  });
});
