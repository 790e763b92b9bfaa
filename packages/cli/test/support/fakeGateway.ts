import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A stand-in gateway serving the shapes tenant-cli reads, with scripted provisioning runs:
 * organization "NoSse" has no event stream (the CLI must poll), "Doomed" fails.
 */
export interface FakeGateway {
  app: FastifyInstance;
  url: string;
  /** Every request seen: method, url, headers and body. */
  requests: { method: string; url: string; headers: Record<string, unknown>; body: unknown }[];
  close(): Promise<void>;
}

export const adminKey = 'test-admin-key';

const tenants = [
  tenant('0b3f8a4e-1111-4aaa-8aaa-000000000001', 'Acme Corp', 'acme', 'pro', 'eu-west-1', 'active'),
  tenant('0b3f8a4e-2222-4aaa-8aaa-000000000002', 'Globex', 'globex', 'free', 'us-east-1', 'suspended'),
  tenant('0b3f8a4e-3333-4aaa-8aaa-000000000003', 'Initech', 'initech', 'enterprise', 'us-east-1', 'failed'),
];

interface Run {
  tenantId: string;
  slug: string;
  sse: boolean;
  fails: boolean;
  polls: number;
}

type OpState = [status: string, progress: number, step: string | null];
const script: OpState[] = [
  ['pending', 0, null],
  ['running', 20, 'reserve-slug'],
  ['running', 60, 'create-schema'],
  ['running', 90, 'create-admin'],
];

export async function startFakeGateway(): Promise<FakeGateway> {
  const app = Fastify({ logger: false });
  const requests: FakeGateway['requests'] = [];
  const runs = new Map<string, Run>();
  let next = 0;

  app.addHook('onRequest', async (request) => {
    requests.push({ method: request.method, url: request.url, headers: request.headers, body: undefined });
  });
  app.addHook('preHandler', async (request) => {
    requests[requests.length - 1]!.body = request.body;
  });
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/api/admin') && request.headers['x-admin-key'] !== adminKey) {
      return problem(reply, 401, 'Unauthorized', 'the X-Admin-Key header is missing or wrong');
    }
  });

  app.get('/health/ready', async () => ({
    status: 'ready',
    service: 'gateway',
    checks: { nats: 'ok', postgres: 'ok' },
  }));

  app.post('/api/auth/register-organization', async (request, reply) => {
    const body = request.body as Record<string, string>;
    if (!body.admin_email?.includes('@')) {
      return problem(reply, 400, 'Invalid request', 'the body does not match the schema', [
        { in: 'body', name: 'admin_email', pointer: '#/admin_email', reason: 'must be an email address' },
        { in: 'body', name: 'plan', pointer: '#/plan', reason: 'must be one of free, pro, enterprise' },
      ]);
    }
    next += 1;
    const id = `prov-${next}`;
    const tenantId = `7c9e6679-7425-40de-944b-e07fc1f9000${next}`;
    const name = body.organization_name ?? '';
    runs.set(id, { tenantId, slug: name.toLowerCase(), sse: name !== 'NoSse', fails: name === 'Doomed', polls: 0 });
    return reply
      .code(202)
      .header('location', `/api/auth/provisioning-status/${id}`)
      .send({ provisioning_id: id, tenant_id: tenantId, status: 'pending' });
  });

  // Migrations: cluster "broken" fails at the copy step; region "mars-1" is refused.
  const migrations = new Map<string, { tenantId: string; cluster: string }>();
  app.post('/api/admin/tenants/:id/migrate', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const body = (request.body ?? {}) as { target_region?: string; target_cluster?: string };
    if (body.target_region === 'mars-1') {
      return problem(
        reply,
        400,
        'Unknown region',
        'region "mars-1" is not served; choose one of: eu-west-1, us-east-1',
      );
    }
    const id = `0b3f8a4e-aaaa-4aaa-8aaa-00000000000${migrations.size + 1}`;
    migrations.set(id, { tenantId: request.params.id, cluster: body.target_cluster ?? 'euw1-b' });
    return reply.code(202).header('location', `/api/operations/${id}`).send({ operation_id: id, migration_id: id });
  });
  app.get('/api/operations/:id/events', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const migration = migrations.get(request.params.id);
    if (migration) {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const op = (status: string, progress: number, step: string | null) => ({
        ...operation(request.params.id, status, progress, step),
        kind: 'migration',
        tenant_id: migration.tenantId,
        source: { region: 'eu-west-1', cluster: 'euw1-a' },
        target: { region: 'eu-west-1', cluster: migration.cluster },
      });
      const states =
        migration.cluster === 'broken'
          ? [op('running', 10, 'freeze'), { ...op('failed', 40, 'copy'), error: 'copy failed: checksum mismatch' }]
          : [
              op('pending', 0, null),
              op('running', 10, 'freeze'),
              op('running', 60, 'copy'),
              op('running', 80, 'verify'),
              op('running', 90, 'switch'),
              { ...op('succeeded', 100, 'remove-source'), result: { rows: 1234, freeze_ms: 850 } },
            ];
      for (const state of states) {
        reply.raw.write(`event: operation\ndata: ${JSON.stringify(state)}\n\n`);
        await new Promise((r) => setTimeout(r, 30));
      }
      reply.raw.end();
      return;
    }
    const run = runs.get(request.params.id);
    if (!run?.sse) return problem(reply, 404, 'Not Found', `Route GET ${request.url} not found`);
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const states = [...script.map(([status, progress, step]) => operation(request.params.id, status, progress, step))];
    states.push(final(request.params.id, run));
    for (const state of states) {
      reply.raw.write(`event: operation\ndata: ${JSON.stringify(state)}\n\n`);
      await new Promise((r) => setTimeout(r, 40));
    }
    reply.raw.end();
  });

  app.get('/api/auth/provisioning-status/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const run = runs.get(request.params.id);
    if (!run) return problem(reply, 404, 'Not Found', `no provisioning ${request.params.id}`);
    run.polls += 1;
    const base = { provisioning_id: request.params.id, tenant_id: run.tenantId };
    if (run.polls === 1) return { ...base, status: 'pending', progress: 0, step: null, slug: null };
    if (run.polls === 2) return { ...base, status: 'provisioning', progress: 50, step: 'create-schema', slug: null };
    return run.fails
      ? { ...base, status: 'failed', progress: 50, step: 'create-schema', slug: null, error: 'cluster euw1-a is full' }
      : { ...base, status: 'active', progress: 100, step: null, slug: run.slug };
  });

  app.get('/api/admin/tenants', async (request) => {
    const query = request.query as Record<string, string | undefined>;
    const limit = Number(query.limit ?? 50);
    const start = Number(query.cursor ?? 0);
    const matching = tenants.filter(
      (t) => !query.q || t.slug.includes(query.q) || t.organization_name.toLowerCase().includes(query.q),
    );
    const items = matching.slice(start, start + limit);
    return { items, next_cursor: start + limit < matching.length ? String(start + limit) : null };
  });

  app.get('/api/admin/tenants/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    const found = tenants.find((t) => t.id === request.params.id);
    if (!found) return problem(reply, 404, 'Tenant not found', `no tenant has the id ${request.params.id}`);
    return {
      ...found,
      placement: {
        region: found.region,
        cluster: 'euw1-a',
        kind: 'schema',
        database: 'ttm_dp_euw1_a',
        schema: 'workspace_abc',
      },
      quotas: { storage_bytes: 5 * 1024 ** 3, users: 25, api_calls_per_month: 1_000_000 },
      provisioning: {
        id: 'prov-0',
        status: 'succeeded',
        progress: 100,
        step: null,
        error: null,
        started_at: '2025-05-01T10:00:00.000Z',
        finished_at: '2025-05-01T10:00:03.400Z',
        duration_ms: 3_400,
      },
      timeline: [
        { seq: 1, type: 'ttm.tenant.registered.v1', time: '2025-05-01T10:00:00.000Z', data: { plan: found.plan } },
        { seq: 2, type: 'ttm.tenant.provisioned.v1', time: '2025-05-01T10:00:03.400Z', data: { slug: found.slug } },
      ],
    };
  });

  app.post('/api/admin/tenants/:id/suspend', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const found = tenants.find((t) => t.id === request.params.id);
    return { ...found, status: 'suspended' };
  });

  app.post('/api/admin/tenants/:id/activate', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const found = tenants.find((t) => t.id === request.params.id);
    return { ...found, status: 'active' };
  });

  app.get('/api/admin/stats', async () => ({
    tenants: {
      total: 3,
      by_status: { active: 1, suspended: 1, failed: 1 },
      by_plan: { pro: 1, free: 1, enterprise: 1 },
      by_region: { 'eu-west-1': 1, 'us-east-1': 2 },
    },
    provisioning: { queue_depth: 4, completed: 2, failed: 1, duration_seconds: { p50: 2.1, p95: 3.4, p99: null } },
  }));

  app.get('/api/admin/audit', async () => ({
    items: [
      {
        id: 'a1',
        time: '2025-05-01T10:05:00.000Z',
        actor: { kind: 'admin', id: 'ops' },
        action: 'tenant.suspend',
        target: tenants[1]!.id,
        client_address: '10.0.0.7',
        request_id: 'req-1',
        outcome: 'success',
        detail: { reason: 'unpaid invoice' },
      },
    ],
    next_cursor: null,
  }));

  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url, requests, close: () => app.close() };
}

/** A server with only `/health/ready`, answering with `status`. */
export async function startReadiness(status: 200 | 503): Promise<FakeGateway> {
  const app = Fastify({ logger: false });
  app.get('/health/ready', async (_request, reply) =>
    reply.code(status).send({
      status: status === 200 ? 'ready' : 'not ready',
      checks: { nats: 'ok', postgres: status === 200 ? 'ok' : 'down' },
    }),
  );
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url, requests: [], close: () => app.close() };
}

function operation(id: string, status: string, progress: number, step: string | null) {
  return {
    id,
    kind: 'provisioning',
    status,
    progress,
    step,
    started_at: '2025-05-01T10:00:00.000Z',
    updated_at: new Date().toISOString(),
  };
}

function final(id: string, run: Run) {
  if (run.fails) return { ...operation(id, 'failed', 90, 'create-admin'), error: 'cluster euw1-a is full' };
  return { ...operation(id, 'succeeded', 100, null), result: { tenant_id: run.tenantId, slug: run.slug } };
}

function problem(reply: FastifyReply, status: number, title: string, detail: string, errors?: unknown[]) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: `https://ttm.dev/problems/${title.toLowerCase().replaceAll(' ', '-')}`,
      title,
      status,
      detail,
      instance: '/api/x',
      request_id: 'req-test',
      ...(errors ? { errors } : {}),
    });
}

function tenant(id: string, name: string, slug: string, plan: string, region: string, status: string) {
  return {
    id,
    organization_name: name,
    slug,
    admin_email: `admin@${slug}.test`,
    plan,
    region,
    status,
    progress: 100,
    registered_at: '2025-05-01T10:00:00.000Z',
    updated_at: '2025-05-01T10:00:03.400Z',
  };
}
