import { randomUUID } from 'node:crypto';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets } from '@ttm/contracts';
import { createLogger, createMetricsRegistry, HealthChecks } from '@ttm/service-kit';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { buildGatewayApp } from '../src/app.js';
import { decoratePrincipal } from '../src/features/auth/guard.js';
import { FreezeWatcher, writeFreeze } from '../src/plugins/writeFreeze.js';
import type { Problem } from '../src/problems.js';

let stack: TestStack;
let nc: NatsConnection;
let kv: KV;
let app: FastifyInstance;
let metrics: Registry;
let watcher: FreezeWatcher;
/** Stands in for the tenant directory's position in the tenant events. */
const directory = { position: 0 };
const frozenTenant = randomUUID();
const otherTenant = randomUUID();

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ gateway: false, provisioner: false }));
  kv = await new Kvm(nc).open(Buckets.writeFreeze);
  const logger = createLogger('freeze-test', 'silent');
  metrics = createMetricsRegistry('gateway');
  watcher = new FreezeWatcher(() => directory.position, logger);
  await watcher.start(nc);
  app = await buildGatewayApp({ logger, health: new HealthChecks(), metrics, version: 'test' });
  // A tenant scope as the gateway builds it, with a stand-in for authentication.
  await app.register(async (tenant) => {
    decoratePrincipal(tenant);
    tenant.addHook('onRequest', async (request) => {
      const id = request.headers['x-test-tenant'];
      if (typeof id === 'string') request.principal = { tenantId: id, userId: id, tokenId: 't', via: 'token' };
    });
    await tenant.register(writeFreeze, { freezes: watcher, metrics });
    tenant.get('/api/tenant/things', async () => ({ read: true }));
    tenant.post('/api/tenant/things', async (_request, reply) => reply.code(201).send({ written: true }));
    tenant.delete('/api/tenant/things/:id', async () => ({ deleted: true }));
  });
  await app.ready();
}, 60_000);

afterAll(async () => {
  await app?.close();
  await watcher?.stop();
  await nc?.close();
  await stack?.stop();
});

const call = (method: string, tenantId: string, url = '/api/tenant/things') =>
  app.inject({ method: method as 'GET', url, headers: { 'x-test-tenant': tenantId } });

async function freeze(tenantId: string, extra: Record<string, unknown> = {}) {
  await kv.put(
    tenantId,
    JSON.stringify({
      reason: 'migration',
      operation_id: randomUUID(),
      since: new Date().toISOString(),
      retry_after_s: 7,
      ...extra,
    }),
  );
}

describe('write freeze', () => {
  it('refuses the frozen tenant writes with 503, problem+json and Retry-After; reads are served', async () => {
    await freeze(frozenTenant);
    const refused = await eventually(async () => {
      const response = await call('POST', frozenTenant);
      return response.statusCode === 503 ? response : undefined;
    });
    expect(refused.headers['retry-after']).toBe('7');
    expect(refused.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(refused.json<Problem>()).toMatchObject({ code: 'TTM_TENANT_WRITES_FROZEN', status: 503 });
    expect((await call('DELETE', frozenTenant, `/api/tenant/things/${randomUUID()}`)).statusCode).toBe(503);
    expect((await call('GET', frozenTenant)).statusCode).toBe(200);
    expect((await call('POST', otherTenant)).statusCode).toBe(201);
    const counted = await metrics.getSingleMetricAsString('gateway_tenant_writes_frozen_total');
    expect(counted).toMatch(/gateway_tenant_writes_frozen_total\{reason="migration"[^}]*\} 2/);
  });

  it('accepts writes again once the freeze is lifted', async () => {
    await kv.delete(frozenTenant);
    await eventually(async () => ((await call('POST', frozenTenant)).statusCode === 201 ? true : undefined));
  });

  it('after a migration switch, holds writes until the tenant directory has the new placement', async () => {
    directory.position = 10;
    await freeze(frozenTenant, { placement_seq: 42 });
    await eventually(async () => ((await call('POST', frozenTenant)).statusCode === 503 ? true : undefined));
    await kv.delete(frozenTenant);
    await new Promise((r) => setTimeout(r, 200));
    expect((await call('POST', frozenTenant)).statusCode).toBe(503);
    directory.position = 42;
    expect((await call('POST', frozenTenant)).statusCode).toBe(201);
  });
});
