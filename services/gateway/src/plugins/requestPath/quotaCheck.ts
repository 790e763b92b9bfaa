import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sendProblem } from '../problemDetails.js';
import { seconds } from './planLimits.js';
import { quotaProblem } from './problems.js';
import { planLimitOf, type RequestPathStepOptions, writeMethods } from './step.js';

/**
 * Step 1 of the tenant request path, from memory: over api_calls → 429 `api-call-quota-exceeded`
 * with Retry-After (next UTC month); over storage_bytes → writes 403 `storage-quota-exceeded`,
 * reads served; over users → routes with `config.quotaMeter: 'users'` 403 `user-quota-exceeded`.
 * A refused request spends no rate limit (the later steps do not run).
 */
export const quotaCheck = fp(
  async (scope: FastifyInstance, options: RequestPathStepOptions) => {
    const { deps } = options;
    const { metrics, gate } = deps.requestPath;
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = request.principal;
      if (!principal) return;
      const { tenantId } = principal;
      const routeConfig = request.routeOptions.config;
      const refusal = gate.check(tenantId, {
        write: writeMethods.has(request.method),
        routeMeter: routeConfig?.quotaMeter,
        apiCallExempt: routeConfig?.quotaExempt === true,
      });
      if (!refusal) return;
      metrics.quotaRefusals.inc({ meter: refusal.meter });
      metrics.requests.inc({ plan: planLimitOf(request, tenantId, options).label, outcome: 'quota' });
      if (refusal.retryAfterMs !== undefined) reply.header('retry-after', seconds(refusal.retryAfterMs));
      return sendProblem(request, reply, quotaProblem(refusal));
    });
  },
  { name: 'tenant-quota-check' },
);
