import { Writable } from 'node:stream';
import { createMetricsRegistry, HealthChecks } from '@ttm/service-kit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildGatewayApp } from '../src/app.js';
import { createProblem, type Problem, problemTypes } from '../src/problems.js';
import { zodSchema } from '../src/schema.js';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const Widget = z.object({
  name: z.string().min(1),
  slug: z.string().regex(/^[a-z0-9-]{3,30}$/),
  owner: z.object({ email: z.email() }),
  size: z.enum(['s', 'm', 'l']).default('m'),
});

const TenantNotFound = createProblem<[tenantId: string]>({
  code: 'TTM_TENANT_NOT_FOUND',
  status: 404,
  type: 'https://ttm.dev/problems/tenant-not-found',
  title: 'Tenant not found',
  detail: 'No tenant has the id %s',
});

const secret = 'password=hunter2 at db.internal:5432';

let app: FastifyInstance;
let dependencyUp = true;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const capture = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  const health = new HealthChecks().add('dependency', () => dependencyUp);
  app = await buildGatewayApp({
    logger: pino({ level: 'info' }, capture),
    health,
    metrics: createMetricsRegistry('gateway'),
    version: '9.9.9-test',
    bodyLimitBytes: 2_048,
  });

  // Test-only routes: the production app has no echo route.
  app.post(
    '/test/widgets',
    { schema: { body: zodSchema(Widget), response: { 201: zodSchema(Widget, { io: 'output' }) } } },
    async (request, reply) => reply.code(201).send(request.body),
  );
  app.get(
    '/test/page',
    { schema: { querystring: zodSchema(z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) })) } },
    async (request) => request.query,
  );
  app.get('/test/tenants/:id', async (request) => {
    throw new TenantNotFound((request.params as { id: string }).id);
  });
  app.get('/test/boom', async () => {
    throw new Error(secret);
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

function problemOf(response: LightMyRequestResponse): Problem {
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const problem = response.json<Problem>();
  expect(problem).toMatchObject({ status: response.statusCode, request_id: response.headers['x-request-id'] });
  for (const field of ['type', 'title', 'detail', 'instance', 'request_id'] as const) {
    expect(typeof problem[field], field).toBe('string');
  }
  return problem;
}

const validWidget = { name: 'Gadget', slug: 'gadget', owner: { email: 'owner@example.com' } };

describe('problem details', () => {
  it('answers an unknown route with a 404 problem', async () => {
    const response = await app.inject({ method: 'GET', url: '/nowhere?x=1' });
    expect(response.statusCode).toBe(404);
    expect(problemOf(response)).toMatchObject({
      type: problemTypes.notFound,
      title: 'Not found',
      status: 404,
      instance: '/nowhere?x=1',
    });
  });

  it('accepts a valid body (defaults applied)', async () => {
    const response = await app.inject({ method: 'POST', url: '/test/widgets', payload: validWidget });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toEqual({ ...validWidget, size: 'm' });
  });

  it('names the missing field of an invalid body', async () => {
    const { name: _missing, ...withoutName } = validWidget;
    const response = await app.inject({ method: 'POST', url: '/test/widgets', payload: withoutName });
    expect(response.statusCode).toBe(400);
    const problem = problemOf(response);
    expect(problem.type).toBe(problemTypes.validation);
    expect(problem.errors).toEqual([{ in: 'body', name: 'name', pointer: '#/name', reason: 'is required' }]);
    expect(problem.detail).toContain('name is required');
  });

  it('names a nested field that breaks its format', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/test/widgets',
      payload: { ...validWidget, owner: { email: 'not-an-email' } },
    });
    expect(response.statusCode).toBe(400);
    const [error] = problemOf(response).errors ?? [];
    expect(error).toMatchObject({ in: 'body', name: 'owner.email', pointer: '#/owner/email' });
    expect(error?.reason).toMatch(/^must /);
  });

  it('does not coerce body types (a number is not a string)', async () => {
    const response = await app.inject({ method: 'POST', url: '/test/widgets', payload: { ...validWidget, name: 42 } });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).errors).toEqual([
      { in: 'body', name: 'name', pointer: '#/name', reason: 'must be string' },
    ]);
  });

  it('coerces query strings and names a bad query parameter', async () => {
    const ok = await app.inject({ method: 'GET', url: '/test/page?limit=10' });
    expect(ok.json()).toEqual({ limit: 10 });
    const bad = await app.inject({ method: 'GET', url: '/test/page?limit=many' });
    expect(bad.statusCode).toBe(400);
    expect(problemOf(bad).errors).toEqual([
      { in: 'querystring', name: 'limit', pointer: '#/limit', reason: 'must be integer' },
    ]);
  });

  it('answers malformed JSON with a 400 problem', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/test/widgets',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "Gadget",',
    });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).type).toBe(problemTypes.malformedBody);
  });

  it('answers an oversize body with a 413 problem', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/test/widgets',
      payload: { ...validWidget, name: 'x'.repeat(4_096) },
    });
    expect(response.statusCode).toBe(413);
    const problem = problemOf(response);
    expect(problem.type).toBe(problemTypes.payloadTooLarge);
    expect(problem.detail).toContain('2048 bytes');
  });

  it.each(['application/xml', 'text/plain'])('answers a %s body with a 415 problem', async (contentType) => {
    const response = await app.inject({
      method: 'POST',
      url: '/test/widgets',
      headers: { 'content-type': contentType },
      payload: '<widget/>',
    });
    expect(response.statusCode).toBe(415);
    expect(problemOf(response)).toMatchObject({
      type: problemTypes.unsupportedMediaType,
      title: 'Unsupported media type',
    });
  });

  it('turns a createProblem error into its own problem', async () => {
    const response = await app.inject({ method: 'GET', url: '/test/tenants/t-42' });
    expect(response.statusCode).toBe(404);
    expect(problemOf(response)).toMatchObject({
      type: 'https://ttm.dev/problems/tenant-not-found',
      title: 'Tenant not found',
      detail: 'No tenant has the id t-42',
      code: 'TTM_TENANT_NOT_FOUND',
      instance: '/test/tenants/t-42',
    });
  });

  it('answers an unexpected error with a 500 problem that leaks nothing, and logs it', async () => {
    const response = await app.inject({ method: 'GET', url: '/test/boom', headers: { 'x-request-id': 'boom-1' } });
    expect(response.statusCode).toBe(500);
    const problem = problemOf(response);
    expect(problem).toMatchObject({ type: problemTypes.internal, request_id: 'boom-1' });
    expect(response.body).not.toContain('hunter2');
    expect(response.body).not.toContain('app.test.ts');
    expect(response.body).not.toMatch(/\bat \S+:\d+/);

    const logged = logLines.find((line) => line.request_id === 'boom-1' && line.level === 50);
    expect(logged?.err).toMatchObject({ message: secret, stack: expect.stringContaining('app.test.ts') });
  });

  it('answers a URL that does not decode with a 400 problem (framework error)', async () => {
    const response = await app.inject({ method: 'GET', url: '/test/tenants/%E0%A4%A' });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).type).toBe(problemTypes.badRequest);
  });
});

describe('request id', () => {
  it('echoes a sane X-Request-Id and uses it in problems', async () => {
    const response = await app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'Edge-7f3a.b_c' } });
    expect(response.headers['x-request-id']).toBe('Edge-7f3a.b_c');
    expect(response.json<Problem>().request_id).toBe('Edge-7f3a.b_c');
  });

  it('generates a uuid when none is given', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/live' });
    expect(response.headers['x-request-id']).toMatch(uuid);
  });

  it.each([['has spaces and !'], ['x'.repeat(129)], ['']])('replaces an unsafe X-Request-Id (%#)', async (given) => {
    const response = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': given } });
    expect(response.headers['x-request-id']).toMatch(uuid);
  });
});

describe('documentation', () => {
  it('serves a valid OpenAPI 3.1 document listing the routes', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const document = response.json();
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(document.info).toEqual(
      expect.objectContaining({ title: 'Twenty Tenant Manager API', version: '9.9.9-test' }),
    );
    expect(document.servers).toEqual([{ url: '/' }]);
    expect(document.components.securitySchemes).toEqual({
      adminKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Admin-Key' }),
      bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
      tenantApiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }),
    });
    const body = document.paths['/test/widgets'].post.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['name', 'slug', 'owner']);
    expect(body.properties.owner.properties.email.format).toBe('email');
    expect(document.paths['/']).toBeDefined();
    expect(document.paths['/docs/openapi.json']).toBeUndefined();
    for (const operations of Object.values<Record<string, { responses?: object }>>(document.paths)) {
      for (const operation of Object.values(operations)) expect(operation.responses).toBeDefined();
    }
    for (const ref of collectRefs(document)) expect(resolvePointer(document, ref), ref).toBeDefined();
  });

  it('renders the reference at /docs as HTML', async () => {
    let response = await app.inject({ method: 'GET', url: '/docs' });
    for (let hops = 0; response.statusCode >= 300 && response.statusCode < 400 && hops < 3; hops++) {
      response = await app.inject({ method: 'GET', url: String(response.headers.location) });
    }
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('swagger-ui');

    const script = /src="([^"]*swagger-ui-bundle\.js)"/.exec(response.body)?.[1];
    expect(script).toBeDefined();
    const asset = await app.inject({ method: 'GET', url: new URL(script!, 'http://gateway/docs').pathname });
    expect(asset.statusCode).toBe(200);
  });

  it('answers GET / with where the docs are', async () => {
    const response = await app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      name: 'Twenty Tenant Manager API',
      version: '9.9.9-test',
      docs: '/docs',
      openapi: '/docs/openapi.json',
    });
  });
});

describe('ops routes', () => {
  it('is live', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/live' });
    expect(response.statusCode).toBe(200);
  });

  it('is ready only while every check passes', async () => {
    dependencyUp = false;
    const down = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ checks: { dependency: 'down' } });

    dependencyUp = true;
    const up = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(up.statusCode).toBe(200);
    expect(up.json()).toMatchObject({ checks: { dependency: 'ok' } });
  });

  it('counts requests by route pattern, unmatched ones under one label', async () => {
    await app.inject({ method: 'GET', url: '/test/tenants/t-1' });
    await app.inject({ method: 'GET', url: '/no/such/route/12345' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    const text = response.body;
    expect(text).toContain('# TYPE api_requests_total counter');
    expect(text).toContain('# TYPE api_response_time_seconds histogram');
    const requestLines = text.split('\n').filter((line) => line.startsWith('api_requests_total{'));
    expect(requestLines.some((l) => l.includes('route="/test/tenants/:id"') && l.includes('status="404"'))).toBe(true);
    expect(requestLines.some((l) => l.includes('route="unmatched"') && l.includes('method="GET"'))).toBe(true);
    // The raw path never becomes a label; timings may contain any digits, so look for the path itself.
    expect(text).not.toContain('/no/such/route');
  });
});

function collectRefs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) collectRefs(item, found);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else collectRefs(value, found);
    }
  }
  return found;
}

function resolvePointer(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  return ref
    .slice(1)
    .split('/')
    .filter(Boolean)
    .map((s) => decodeURIComponent(s).replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], document);
}

describe('zodSchema', () => {
  it('inlines named schemas so no $ref dangles in the OpenAPI document', () => {
    const Slug = z.string().min(3).meta({ id: 'TestSlug', description: 'url-safe name' });
    const schema = zodSchema(z.object({ slug: Slug, aliases: z.array(Slug) }).meta({ id: 'TestRoot' }));
    expect(schema).toEqual({
      type: 'object',
      properties: {
        slug: { type: 'string', minLength: 3, description: 'url-safe name' },
        aliases: { type: 'array', items: { type: 'string', minLength: 3, description: 'url-safe name' } },
      },
      required: ['slug', 'aliases'],
    });
  });

  it('describes the input by default and the output on request', () => {
    const withDefault = z.object({ size: z.string().default('m') });
    expect(zodSchema(withDefault).required).toBeUndefined();
    expect(zodSchema(withDefault, { io: 'output' }).required).toEqual(['size']);
  });

  it('refuses a recursive schema at start-up', () => {
    const Node: z.ZodType = z.object({
      name: z.string(),
      get children() {
        return z.array(Node);
      },
    });
    expect(() => zodSchema(Node)).toThrow(/cycle/i);
  });
});
