import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';

/**
 * Pagination and isolation of the tenant API (tenantApi.test.ts) with many workspace schemas
 * in one cluster database: TENANTS organizations registered through the real path, all placed in
 * us-east-1's shared database, so every query runs among TENANTS schemas of the same tables.
 */
const TENANTS = 200;
const PASSWORD = 'correct-Horse-battery-9';
/** Tenants that log in and write records (the others only add schemas). */
const WRITERS = 5;
const A_RECORDS = 23;
const PAGE = 5;

let stack: TestStack;
let tenants: { tenantId: string; email: string; schema: string; database: string }[];
let tokens: string[];

beforeAll(async () => {
  stack = await startStack({ env: { ENABLE_RATE_LIMITING: 'false', WORKSPACE_WARM_POOL: '8' } });
  const gateway = stack.gateway!;
  const provisioningIds: string[] = [];
  for (let i = 0; i < TENANTS; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, TENANTS - i) }, (_, j) =>
        gateway.app.inject({
          method: 'POST',
          url: '/api/auth/register-organization',
          payload: {
            organization_name: `Many Schemas ${i + j}`,
            admin_email: `admin${i + j}@many-schemas.test`,
            admin_password: PASSWORD,
            plan: 'pro',
            region: 'us-east-1',
          },
        }),
      ),
    );
    for (const response of batch) {
      expect(response.statusCode, response.body).toBe(202);
      provisioningIds.push(response.json<{ provisioning_id: string }>().provisioning_id);
    }
  }
  const entries = await eventually(() => {
    const now = provisioningIds.map((id) => gateway.deps.directory.byProvisioningId(id));
    return now.every((e) => e?.status === 'active') ? now.map((e) => e!) : undefined;
  }, 600_000);
  tenants = entries.map((e, i) => ({
    tenantId: e.tenantId,
    email: `admin${i}@many-schemas.test`,
    schema: e.placement!.schema,
    database: e.placement!.database,
  }));
  // Writers spread over the registration order (first, last, and between).
  tokens = [];
  for (let w = 0; w < WRITERS; w++) {
    const login = await gateway.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: tenants[writerIndex(w)]!.email, password: PASSWORD },
    });
    expect(login.statusCode, login.body).toBe(200);
    tokens.push(login.json<{ access_token: string }>().access_token);
  }
}, 900_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

const writerIndex = (w: number) => Math.round((w * (TENANTS - 1)) / (WRITERS - 1));

function call(token: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) {
  return stack.gateway!.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

interface Company {
  id: string;
  name: string;
  createdAt: string;
}

async function listAll(token: string, limit: number): Promise<{ items: Company[]; pages: number }> {
  const items: Company[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url: string = `/api/tenant/objects/company?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await call(token, 'GET', url);
    expect(page.statusCode, page.body).toBe(200);
    const body = page.json<{ items: Company[]; next_cursor: string | null }>();
    items.push(...body.items);
    cursor = body.next_cursor;
    pages++;
  } while (cursor);
  return { items, pages };
}

describe(`the tenant API with ${TENANTS} workspace schemas in one database`, () => {
  it('places every tenant in the same database, each in its own schema', async () => {
    const databases = new Set(tenants.map((t) => t.database));
    expect(databases.size).toBe(1);
    expect(new Set(tenants.map((t) => t.schema)).size).toBe(TENANTS);
    const client = new pg.Client({ connectionString: stack.clusterUrls['us-east-1'] });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'workspace\\_%'`,
      );
      expect(rows[0]!.n).toBeGreaterThanOrEqual(TENANTS);
    } finally {
      await client.end();
    }
  });

  it('pages a tenant through its records completely and in order; every tenant sees only its own', async () => {
    const created: Company[][] = [];
    for (let w = 0; w < WRITERS; w++) {
      const count = w === 0 ? A_RECORDS : 3;
      const mine: Company[] = [];
      for (let i = 0; i < count; i++) {
        const response = await call(tokens[w]!, 'POST', '/api/tenant/objects/company', {
          name: `Writer ${w} company ${i}`,
        });
        expect(response.statusCode, response.body).toBe(201);
        mine.push(response.json<Company>());
      }
      created.push(mine);
    }

    // Tenant A: pages of PAGE, every record once, in ("createdAt", id) order, as created.
    const a = await listAll(tokens[0]!, PAGE);
    expect(a.pages).toBe(Math.ceil(A_RECORDS / PAGE));
    expect(a.items.map((c) => c.id)).toEqual(created[0]!.map((c) => c.id));
    const order = a.items.map((c) => [Date.parse(c.createdAt), c.id] as const);
    const sorted = [...order].sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
    expect(order).toEqual(sorted);

    // Each writer's list is exactly its own records, whatever the page size.
    for (let w = 0; w < WRITERS; w++) {
      const { items } = await listAll(tokens[w]!, 2);
      expect(
        items.map((c) => c.id),
        `writer ${w}`,
      ).toEqual(created[w]!.map((c) => c.id));
      expect(items.every((c) => c.name.startsWith(`Writer ${w} `))).toBe(true);
    }
  });

  it("keeps every other tenant out of A's records by id, by name and with A's cursor", async () => {
    const { items: ofA } = await listAll(tokens[0]!, 50);
    const target = ofA[0]!;
    const firstPage = await call(tokens[0]!, 'GET', `/api/tenant/objects/company?limit=${PAGE}`);
    const cursorOfA = firstPage.json<{ next_cursor: string }>().next_cursor;
    expect(cursorOfA).toBeTruthy();
    for (let w = 1; w < WRITERS; w++) {
      const token = tokens[w]!;
      expect((await call(token, 'GET', `/api/tenant/objects/company/${target.id}`)).statusCode).toBe(404);
      expect((await call(token, 'PATCH', `/api/tenant/objects/company/${target.id}`, { name: 'x' })).statusCode).toBe(
        404,
      );
      expect((await call(token, 'DELETE', `/api/tenant/objects/company/${target.id}`)).statusCode).toBe(404);
      const byName = await call(token, 'GET', `/api/tenant/objects/company?name=${encodeURIComponent(target.name)}`);
      expect(byName.json<{ items: unknown[] }>().items).toEqual([]);
      // A's cursor only positions in the caller's own list.
      const withCursor = await call(token, 'GET', `/api/tenant/objects/company?limit=50&cursor=${cursorOfA}`);
      expect(withCursor.statusCode, withCursor.body).toBe(200);
      for (const c of withCursor.json<{ items: Company[] }>().items)
        expect(c.name.startsWith(`Writer ${w} `)).toBe(true);
    }
    // A's record is unchanged and still there.
    const again = await call(tokens[0]!, 'GET', `/api/tenant/objects/company/${target.id}`);
    expect(again.statusCode).toBe(200);
    expect(again.json<Company>().name).toBe(target.name);
  });
});
