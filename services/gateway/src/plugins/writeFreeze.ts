import { sharedCounter } from '@ttm/service-kit';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Counter, Registry } from 'prom-client';
import type { GatewayDeps } from '../deps.js';
import { TenantWritesFrozen } from '../features/freezes/problems.js';
import { withHeaders } from '../problemHeaders.js';

export { type FreezeEntry, FreezeWatcher } from '../features/freezes/watcher.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What the plugin needs of the gateway's dependencies. */
export type WriteFreezeDeps = Pick<GatewayDeps, 'freezes' | 'metrics'>;

function refusedCounter(registry: Registry): Counter<'reason'> {
  return sharedCounter(registry, {
    name: 'gateway_tenant_writes_frozen_total',
    help: 'Tenant writes refused with 503 because the tenant was frozen, by reason (restore, migration)',
    labelNames: ['reason'],
  });
}

/**
 * Tenant writes refused with 503 and `Retry-After` while the tenant is frozen (an in-place
 * restore, a migration's copy). Registered in the tenant scope after authentication, so
 * `request.principal` is set; reads (GET, HEAD, OPTIONS) are always served.
 */
const plugin: FastifyPluginAsync<WriteFreezeDeps> = async (app, deps) => {
  const watcher = deps.freezes;
  const refused = refusedCounter(deps.metrics);
  app.addHook('onRequest', async (request) => {
    if (!WRITE_METHODS.has(request.method)) return;
    const tenantId = request.principal?.tenantId;
    if (!tenantId) return;
    const freeze = watcher.check(tenantId);
    if (!freeze) return;
    refused.inc({ reason: freeze.reason });
    throw withHeaders(new TenantWritesFrozen(freeze.reason, freeze.since), {
      'retry-after': String(freeze.retry_after_s),
    });
  });
};

export const writeFreeze = fp(plugin, { name: 'write-freeze' });
