import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { planLimitOf, type RequestPathStepOptions } from './step.js';

/**
 * Step 3 of the tenant request path: a call that got this far is allowed; it is counted in memory
 * and published with the others every USAGE_FLUSH_INTERVAL (and at shutdown) as `api_calls`
 * usage, unless its route is `quotaExempt`.
 */
export const apiCallMetering = fp(
  async (scope: FastifyInstance, options: RequestPathStepOptions) => {
    const { deps } = options;
    const { metrics, gate, meter } = deps.requestPath;
    scope.addHook('onRequest', async (request: FastifyRequest) => {
      const principal = request.principal;
      if (!principal) return;
      const { tenantId } = principal;
      metrics.requests.inc({ plan: planLimitOf(request, tenantId, options).label, outcome: 'allowed' });
      if (request.routeOptions.config?.quotaExempt === true) return;
      gate.counted(tenantId);
      meter.count(tenantId);
    });
  },
  { name: 'tenant-api-call-metering' },
);
