import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { withDatabase } from '../src/features/dataPlane/index.js';
import { authProblemTypes, type Problem, problemTypes } from '../src/problems.js';

let stack: TestStack;
let serial = 0;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const PASSWORD = 'correct-Horse-battery-9';

function validBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  serial++;
  return {
    organization_name: `Acme ${serial}`,
    admin_email: `admin${serial}@acme.test`,
    admin_password: PASSWORD,
    plan: 'pro',
    ...overrides,
  };
}

function register(payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return stack.gateway!.app.inject({
    method: 'POST',
    url: '/api/auth/register-organization',
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
}

function problemOf(response: LightMyRequestResponse): Problem {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json<Problem>();
}

/**
 * Active in the gateway's directory (memory) and in its tenants projection (gateway.tenants): two
 * consumers of the same events, so one can be ahead of the other.
 */
async function activeTenant(provisioningId: string) {
  const entry = await eventually(() => {
    const entry = stack.gateway!.deps.directory.byProvisioningId(provisioningId);
    if (entry?.status === 'failed') throw new Error(`provisioning failed: ${entry.error}`);
    return entry?.status === 'active' ? entry : undefined;
  }, 20_000);
  await eventually(
    async () =>
      (await tenantRows(`provisioning_id = $1 AND status = 'active'`, [provisioningId])) === 1 ? true : undefined,
    20_000,
  );
  return entry;
}

async function tenantRows(where: string, params: unknown[]): Promise<number> {
  const { rows } = await stack.gateway!.deps.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM gateway.tenants WHERE ${where}`,
    params,
  );
  return Number(rows[0]!.n);
}

describe('register an organization', () => {
  it('answers 202 with Location; the provisioner activates it and its admin logs in', async () => {
    const body = validBody({ admin_email: 'Founder@Example.TEST' });
    const response = await register(body);
    expect(response.statusCode).toBe(202);
    const accepted = response.json<{ provisioning_id: string; tenant_id: string; status: string }>();
    expect(accepted).toEqual({ provisioning_id: expect.any(String), tenant_id: expect.any(String), status: 'pending' });
    expect(response.headers.location).toBe(`/api/auth/provisioning-status/${accepted.provisioning_id}`);

    const tenant = await activeTenant(accepted.provisioning_id);
    expect(tenant).toMatchObject({ tenantId: accepted.tenant_id, plan: 'pro', region: 'us-east-1' });
    // Stored lowercased: the admin logs in with any case.
    expect(tenant.adminEmail).toBe('founder@example.test');

    const login = await stack.gateway!.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: 'founder@EXAMPLE.test', password: PASSWORD },
    });
    expect(login.statusCode).toBe(200);
    const tokens = login.json<{ access_token: string; token_type: string; tenant_id: string }>();
    expect(tokens).toMatchObject({ token_type: 'Bearer', tenant_id: accepted.tenant_id });

    const me = await stack.gateway!.app.inject({
      method: 'GET',
      url: '/api/tenant/me',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({
      tenant_id: accepted.tenant_id,
      slug: tenant.slug,
      plan: 'pro',
      status: 'active',
    });
  });

  it('documents the route in the OpenAPI document', async () => {
    const response = await stack.gateway!.app.inject({ method: 'GET', url: '/docs/openapi.json' });
    const operation = response.json().paths['/api/auth/register-organization'].post;
    const schema = operation.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['organization_name', 'admin_email', 'admin_password', 'plan']);
    expect(schema.properties.plan.description).toContain('free, pro, enterprise');
    expect(operation.responses['202']).toBeDefined();
    expect(operation.parameters.some((p: { name: string }) => p.name === 'idempotency-key')).toBe(true);
  });

  it.each([
    ['quotes and umlauts', `Zürich Café "Grüezi" & Søn`],
    ['an apostrophe', `O'Brien's Bakery`],
    ['CJK characters', '北京科技有限公司'],
    ['SQL', `Robert'); DROP TABLE gateway.tenants; --`],
    ['emoji', 'Rocket 🚀 Labs'],
    ['only emoji (60 characters, 120 UTF-16 units)', '🚀'.repeat(60)],
  ])('accepts and provisions a name with %s', async (_label, name) => {
    const response = await register(validBody({ organization_name: `  ${name}  ` }));
    expect(response.statusCode).toBe(202);
    const tenant = await activeTenant(response.json<{ provisioning_id: string }>().provisioning_id);
    expect(tenant.organizationName).toBe(name);
    expect(tenant.slug).toMatch(/^[a-z0-9](?:[a-z0-9-]{1,28})[a-z0-9]$/);

    const placement = tenant.placement!;
    const client = new pg.Client({
      connectionString: withDatabase(stack.clusterUrls['us-east-1'], placement.database),
    });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT "displayName", subdomain, "activationStatus" FROM core.workspace WHERE id = $1`,
        [tenant.tenantId],
      );
      expect(rows).toEqual([{ displayName: name, subdomain: tenant.slug, activationStatus: 'ACTIVE' }]);
    } finally {
      await client.end();
    }
    expect(await tenantRows('true', [])).toBeGreaterThan(0); // gateway.tenants survived the SQL-looking name
  });
});

describe('bad registrations', () => {
  // Each rejected body carries this marker in its name or email, so the check below finds any leak.
  const marker = 'rejected';
  const bad = (overrides: Record<string, unknown>) =>
    validBody({ organization_name: `${marker} org`, admin_email: `${marker}@bad.test`, ...overrides });
  const without = (field: string) => {
    const body = bad({});
    delete body[field];
    return body;
  };

  type Case = [label: string, payload: unknown, status: number, type: string, names: string];
  const cases: Case[] = [
    ['missing organization_name', without('organization_name'), 400, problemTypes.validation, 'organization_name'],
    ['missing admin_email', without('admin_email'), 400, problemTypes.validation, 'admin_email'],
    ['missing admin_password', without('admin_password'), 400, problemTypes.validation, 'admin_password'],
    ['missing plan', without('plan'), 400, problemTypes.validation, 'plan'],
    ['a number as the name', bad({ organization_name: 42 }), 400, problemTypes.validation, 'organization_name'],
    ['an array as the plan', bad({ plan: ['pro'] }), 400, problemTypes.validation, 'plan'],
    ['a JSON string as the body', '"register me"', 400, problemTypes.validation, 'body'],
    ['malformed JSON', '{"organization_name": "x",', 400, problemTypes.malformedBody, 'JSON'],
    ['a blank name', bad({ organization_name: '   ' }), 400, problemTypes.validation, 'organization_name'],
    [
      'a control character in the name',
      bad({ organization_name: `${marker}\u0000x` }),
      400,
      problemTypes.validation,
      'organization_name',
    ],
    [
      'a 101-character name',
      bad({ organization_name: `${marker}${'x'.repeat(93)}` }),
      400,
      problemTypes.validation,
      'organization_name',
    ],
    ['a bad email', bad({ admin_email: 'not-an-email' }), 400, problemTypes.validation, 'admin_email'],
    [
      'SQL in the email',
      bad({ admin_email: `x'; DROP TABLE gateway.tenants;--@bad.test` }),
      400,
      problemTypes.validation,
      'admin_email',
    ],
    [
      'SQL in the plan',
      bad({ plan: `pro'; DROP TABLE gateway.tenants;--` }),
      400,
      authProblemTypes.unknownPlan,
      'free, pro, enterprise',
    ],
    ['a short password', bad({ admin_password: 'Sh0rt!' }), 400, problemTypes.validation, 'admin_password'],
    [
      'a 129-character password',
      bad({ admin_password: `Aa1${'x'.repeat(126)}` }),
      400,
      problemTypes.validation,
      'admin_password',
    ],
    [
      'a one-class password',
      bad({ admin_password: 'onlylowercaseletters' }),
      400,
      authProblemTypes.weakPassword,
      'admin_password',
    ],
    [
      'a digits-only password',
      bad({ admin_password: '12345678901234' }),
      400,
      authProblemTypes.weakPassword,
      'admin_password',
    ],
    [
      'the email as password',
      bad({ admin_password: `${marker}@bad.test` }),
      400,
      authProblemTypes.weakPassword,
      'admin_email',
    ],
    ['an unknown plan', bad({ plan: 'gold' }), 400, authProblemTypes.unknownPlan, 'free, pro, enterprise'],
    ['an unknown region', bad({ region: 'mars-1' }), 400, authProblemTypes.unknownRegion, 'us-east-1, eu-west-1'],
    ['an oversize body', bad({ organization_name: 'x'.repeat(1_100_000) }), 413, problemTypes.payloadTooLarge, 'bytes'],
  ];

  it.each(cases)('refuses %s with a clear problem', async (_label, payload, status, type, names) => {
    const response = await register(payload);
    expect(response.statusCode).toBe(status);
    const problem = problemOf(response);
    expect(problem.type).toBe(type);
    expect(problem.status).toBe(status);
    const explained = `${problem.detail} ${JSON.stringify(problem.errors ?? [])}`;
    expect(explained).toContain(names);
    if (type === problemTypes.validation && names !== 'body') {
      expect(problem.errors?.map((e) => e.name)).toContain(names);
    }
  });

  it('refuses an unusable Idempotency-Key', async () => {
    const response = await register(bad({}), { 'idempotency-key': 'k'.repeat(300) });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).type).toBe(authProblemTypes.invalidIdempotencyKey);
  });

  it('left no tenant behind for any refused request', async () => {
    // A later registration that is fully provisioned: anything published before it has been seen too.
    const barrier = await register(validBody());
    const { tenant_id: barrierId, provisioning_id } = barrier.json<{ tenant_id: string; provisioning_id: string }>();
    await activeTenant(provisioning_id);
    await eventually(async () =>
      (await tenantRows(`tenant_id = $1 AND status = 'active'`, [barrierId])) ? true : undefined,
    );
    expect(await tenantRows(`organization_name LIKE $1 OR admin_email LIKE $2`, [`${marker}%`, `${marker}%`])).toBe(0);
  });
});

describe('Idempotency-Key', () => {
  it('replays the first answer for the same key and body, and creates one tenant', async () => {
    const body = validBody({ organization_name: 'Idempotent Inc' });
    const first = await register(body, { 'idempotency-key': '"order-1"' });
    // The same body with its keys in another order is the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const second = await register(reordered, { 'idempotency-key': 'order-1' });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(second.json()).toEqual(first.json());
    expect(second.headers.location).toBe(first.headers.location);
    expect(second.headers['idempotent-replayed']).toBe('true');

    await activeTenant(first.json<{ provisioning_id: string }>().provisioning_id);
    const third = await register(body, { 'idempotency-key': 'order-1' });
    expect(third.json()).toEqual(first.json());
    expect(await tenantRows('organization_name = $1', ['Idempotent Inc'])).toBe(1);
  });

  it('answers 422 when the key comes back with another body', async () => {
    const key = 'order-2';
    const first = await register(validBody({ organization_name: 'Key Owner' }), { 'idempotency-key': key });
    expect(first.statusCode).toBe(202);
    const other = await register(validBody({ organization_name: 'Someone Else' }), { 'idempotency-key': key });
    expect(other.statusCode).toBe(422);
    expect(problemOf(other).type).toBe(authProblemTypes.idempotencyKeyReused);
    await activeTenant(first.json<{ provisioning_id: string }>().provisioning_id);
    expect(await tenantRows('organization_name = $1', ['Someone Else'])).toBe(0);
  });

  it('lets one of two concurrent first requests through: the other gets 409 or the replay', async () => {
    const body = validBody({ organization_name: 'Racing Requests' });
    const answers = await Promise.all([
      register(body, { 'idempotency-key': 'race-1' }),
      register(body, { 'idempotency-key': 'race-1' }),
    ]);
    const statuses = answers.map((a) => a.statusCode).sort();
    expect([
      [202, 202],
      [202, 409],
    ]).toContainEqual(statuses);
    const accepted = answers.filter((a) => a.statusCode === 202).map((a) => a.json<{ provisioning_id: string }>());
    expect(new Set(accepted.map((a) => a.provisioning_id)).size).toBe(1);
    const conflict = answers.find((a) => a.statusCode === 409);
    if (conflict) {
      expect(problemOf(conflict).type).toBe(authProblemTypes.idempotencyKeyInFlight);
      expect(conflict.headers['retry-after']).toBe('1');
    }
    await activeTenant(accepted[0]!.provisioning_id);
    expect(await tenantRows('organization_name = $1', ['Racing Requests'])).toBe(1);
  });

  it('does not store a refused answer: the key can be used again after fixing the body', async () => {
    const refused = await register(validBody({ plan: 'gold' }), { 'idempotency-key': 'fix-me' });
    expect(refused.statusCode).toBe(400);
    const fixed = await register(validBody({ organization_name: 'Fixed Later' }), { 'idempotency-key': 'fix-me' });
    expect(fixed.statusCode).toBe(202);
  });

  it('counts registrations by outcome', async () => {
    const metrics = await stack.gateway!.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/registrations_total\{outcome="accepted"[^}]*\} [1-9]/);
    expect(metrics.body).toMatch(/registrations_total\{outcome="rejected"[^}]*\} [1-9]/);
    expect(metrics.body).toMatch(/registrations_total\{outcome="replayed"[^}]*\} [1-9]/);
  });
});
