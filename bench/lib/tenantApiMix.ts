/**
 * The tenant API mix of `bench/tenant-api.ts`, shared with `bench/fleet.ts`: an API key per tenant
 * (stored as the gateway stores one), a warm-up call per tenant, and a closed-loop load of
 * list / get / create / patch companies and `GET /api/tenant/me` (no database) over all tenants.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';

/**
 * The load's HTTP client: keep-alive sockets, at most MAX_SOCKETS of them. Requests beyond that
 * wait in the client (thousands of simultaneous new connections would overflow the server's
 * accept backlog, which measures the kernel, not the API).
 */
const MAX_SOCKETS = Number(process.env.BENCH_SOCKETS ?? 256);
const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });

export const CLIENT_SOCKETS = MAX_SOCKETS;

export interface Tenant {
  tenantId: string;
  key: string;
  companies: string[];
}

export type Kind = 'list' | 'get' | 'create' | 'patch' | 'me';

export const MIX = 'list 45 %, get 15 %, create 15 %, patch 15 %, me (no database) 10 %';

/**
 * An API key per tenant, stored as the gateway stores one, for the tenant's admin user. The admins
 * are read from `core."userWorkspace"` of every cluster in REGIONS and of `extraDatabases` (the
 * dedicated databases of tenants with `isolation: "database"`).
 */
export async function mintKeys(
  admin: pg.Client,
  env: Record<string, string>,
  tenantIds: string[],
  extraDatabases: string[] = [],
): Promise<Tenant[]> {
  const admins = new Map<string, string>();
  const regions = JSON.parse(env.REGIONS!) as { clusters: { url: string }[] }[];
  for (const url of [...regions.flatMap((r) => r.clusters.map((c) => c.url)), ...extraDatabases]) {
    const cluster = new pg.Client({ connectionString: url });
    await cluster.connect();
    try {
      const { rows } = await cluster.query<{ workspace: string; user: string }>(
        `SELECT "workspaceId"::text AS workspace, "userId"::text AS user FROM core."userWorkspace"`,
      );
      for (const row of rows) admins.set(row.workspace, row.user);
    } finally {
      await cluster.end();
    }
  }
  const tenants: Tenant[] = [];
  const rows: unknown[][] = [];
  for (const tenantId of tenantIds) {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const userId = admins.get(tenantId);
    if (!userId) throw new Error(`tenant ${tenantId} has no user in its workspace`);
    rows.push([id, tenantId, 'bench', createHash('sha256').update(secret).digest(), userId]);
    tenants.push({ tenantId, key: `ttm_${id.replaceAll('-', '')}_${secret}`, companies: [] });
  }
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    await admin.query(
      `INSERT INTO gateway.api_keys (id, tenant_id, name, secret_hash, created_by)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::uuid[])`,
      [0, 1, 2, 3, 4].map((c) => chunk.map((r) => r[c])),
    );
  }
  return tenants;
}

function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Every tenant calls once, `inFlight` at a time: its key verified and cached, pools and JIT warm. */
export async function warmUp(gatewayUrl: string, tenants: Tenant[], inFlight: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < tenants.length) {
        const tenant = tenants[next++]!;
        const response = await send('GET', `${gatewayUrl}/api/tenant/objects/company?limit=1`, {
          'x-api-key': tenant.key,
        });
        if (response.status !== 200) throw new Error(`warm-up answered ${response.status}: ${response.text}`);
      }
    }),
  );
}

/** `inFlight` closed-loop clients for `seconds`, every request for the next tenant of the client's walk. */
export async function load(gatewayUrl: string, tenants: Tenant[], inFlight: number, seconds: number) {
  const latencies: Record<Kind, number[]> = { list: [], get: [], create: [], patch: [], me: [] };
  const served = new Set<string>();
  let total = 0;
  let errors = 0;
  let firstError: string | undefined;
  let round = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();

  const pick = (n: number): Kind => {
    const r = n % 20;
    if (r < 2) return 'me';
    if (r < 11) return 'list';
    if (r < 14) return 'get';
    if (r < 17) return 'create';
    return 'patch';
  };

  const one = async (tenant: Tenant, kind: Kind): Promise<void> => {
    const headers: Record<string, string> = { 'x-api-key': tenant.key };
    const known = tenant.companies[Math.floor(Math.random() * tenant.companies.length)];
    let url = `${gatewayUrl}/api/tenant/objects/company`;
    let method = 'GET';
    let body: string | undefined;
    if (kind === 'me') url = `${gatewayUrl}/api/tenant/me`;
    else if (kind === 'list') url += '?limit=20';
    else if ((kind === 'get' || kind === 'patch') && known === undefined) kind = 'create';
    if (kind === 'get') url += `/${known}`;
    if (kind === 'create') {
      method = 'POST';
      body = JSON.stringify({
        name: `Company ${total}`,
        employees: total % 500,
        idealCustomerProfile: total % 2 === 0,
      });
    }
    if (kind === 'patch') {
      method = 'PATCH';
      url += `/${known}`;
      body = JSON.stringify({ employees: total % 1000 });
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const t0 = performance.now();
    const response = await send(method, url, headers, body);
    const text = response.text;
    const ms = performance.now() - t0;
    total++;
    if (response.status >= 400) {
      errors++;
      firstError ??= `${method} ${url} → ${response.status} ${text.slice(0, 300)}`;
      return;
    }
    latencies[kind].push(ms);
    served.add(tenant.tenantId);
    if (kind === 'create') tenant.companies.push((JSON.parse(text) as { id: string }).id);
  };

  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      // Each worker walks the tenants from its own offset, so all of them are busy from the start.
      let i = Math.floor((worker * tenants.length) / inFlight);
      while (performance.now() < deadline) {
        const tenant = tenants[i++ % tenants.length]!;
        await one(tenant, pick(round++)).catch((error: unknown) => {
          errors++;
          firstError ??= `${String(error)} (${String((error as { cause?: unknown }).cause ?? '')})`;
        });
      }
    }),
  );
  if (firstError) console.log(`  first error: ${firstError}`);
  return { latencies, total, errors, tenantsServed: served.size, seconds: (performance.now() - started) / 1000 };
}
