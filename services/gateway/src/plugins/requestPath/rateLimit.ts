import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sendProblem } from '../problemDetails.js';
import { seconds } from './planLimits.js';
import { RATE_POLICY, rateLimitedProblem, rateLimiterUnavailableProblem } from './problems.js';
import { planLimitOf, type RequestPathStepOptions } from './step.js';

/**
 * Step 2 of the tenant request path (registered only when ENABLE_RATE_LIMITING is on): Redis, one
 * EVALSHA, or memory while the tenant is known to be limited. Every answer carries
 * `RateLimit-Policy` and `RateLimit`; past the limit 429 `rate-limited` with Retry-After. Redis
 * down or slower than RATE_LIMIT_REDIS_TIMEOUT: RATE_LIMIT_FAILURE_MODE `local` (default) limits
 * the tenant in memory to this gateway's share of its limit, `open` serves the request, `closed`
 * answers 503 `rate-limiter-unavailable` (never a 500).
 */
export const rateLimit = fp(
  async (scope: FastifyInstance, options: RequestPathStepOptions) => {
    const { deps } = options;
    const { metrics, limiter } = deps.requestPath;
    if (!limiter) return;
    const failClosed = deps.config.RATE_LIMIT_FAILURE_MODE === 'closed';
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = request.principal;
      if (!principal) return;
      const { tenantId } = principal;
      const limit = planLimitOf(request, tenantId, options);
      reply.header('ratelimit-policy', limit.policyField);
      const decision = await limiter.take(tenantId, limit.policy);
      if (decision.outcome === 'allowed') {
        reply.header('ratelimit', `"${RATE_POLICY}";r=${decision.remaining};t=${seconds(decision.resetMs)}`);
      } else if (decision.outcome === 'limited') {
        const retryAfter = seconds(decision.retryAfterMs);
        metrics.requests.inc({ plan: limit.label, outcome: 'limited' });
        reply.header('ratelimit', `"${RATE_POLICY}";r=0;t=${retryAfter}`).header('retry-after', retryAfter);
        return sendProblem(request, reply, rateLimitedProblem(limit.policy.requests, limit.windowSeconds, retryAfter));
      } else if (failClosed) {
        metrics.requests.inc({ plan: limit.label, outcome: 'unavailable' });
        reply.header('retry-after', 1);
        return sendProblem(request, reply, rateLimiterUnavailableProblem());
      }
    });
  },
  { name: 'tenant-rate-limit' },
);
