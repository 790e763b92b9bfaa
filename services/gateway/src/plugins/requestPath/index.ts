import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayDeps } from '../../deps.js';
import { problemJsonSchema } from '../../problems.js';
import { apiCallMetering } from './apiCallMetering.js';
import type { RequestPathMetrics } from './metrics.js';
import { planLimits } from './planLimits.js';
import { requestPathProblemTypes } from './problems.js';
import { quotaCheck } from './quotaCheck.js';
import type { QuotaGate } from './quotaGate.js';
import { rateLimit } from './rateLimit.js';
import type { RateLimiter } from './rateLimiter.js';
import { writeMethods } from './step.js';
import type { UsageMeter } from './usageMeter.js';

export { type RequestPathMetrics, requestPathMetrics } from './metrics.js';
export { QuotaGate } from './quotaGate.js';
export { RateLimiter } from './rateLimiter.js';
export { gatewayInstanceId, UsageMeter } from './usageMeter.js';
export { requestPathProblemTypes };

/** The request path's long-lived parts, built and closed by the composition root (`gateway.ts`). */
export interface RequestPathComponents {
  metrics: RequestPathMetrics;
  /** Quota state in memory, kept current from `ttm-quota-state`. */
  gate: QuotaGate;
  /** api_calls counted in memory, published every USAGE_FLUSH_INTERVAL and at shutdown. */
  meter: UsageMeter;
  /** Undefined when ENABLE_RATE_LIMITING is off. */
  limiter: RateLimiter | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route creates what this meter counts (`users`: inviting a user), so it is refused while
     * the tenant is over that quota. Routes without it are never refused for the users quota.
     */
    quotaMeter?: 'users';
    /**
     * An account route a tenant over its api_calls quota must still reach to see why (its quotas
     * and usage): never refused for the api_calls quota, and not counted as an API call. Still
     * rate limited.
     */
    quotaExempt?: boolean;
  }
}

/**
 * The tenant request path after authentication: quota check, rate limit, metering, each its own
 * plugin (`quotaCheck.ts`, `rateLimit.ts`, `apiCallMetering.ts`) with one `onRequest` hook,
 * registered here in that order. Registered in the tenant scope after `tenantAuthenticate` and
 * the write freeze (fp-wrapped, so the hooks apply to the whole scope): a refused request is
 * answered before its body is read, and the steps after the one that refused it do not run.
 */
export const tenantRequestPath: FastifyPluginAsync<GatewayDeps> = fp(
  async (scope: FastifyInstance, deps: GatewayDeps) => {
    const failClosed = deps.config.RATE_LIMIT_FAILURE_MODE === 'closed';

    // The OpenAPI document shows what the path may answer on every tenant route (a route's own
    // description of a status wins).
    scope.addHook('onRoute', (route) => {
      const schema = route.schema ?? {};
      const write = [route.method].flat().some((method) => writeMethods.has(method));
      route.schema = {
        ...schema,
        response: {
          429: documented(
            'Over the rate limit (`rate-limited`, see RateLimit and Retry-After) or over the monthly api_calls quota (`api-call-quota-exceeded`)',
          ),
          ...(write || route.config?.quotaMeter
            ? {
                403: documented(
                  'Over the storage_bytes quota (`storage-quota-exceeded`, writes only) or, on invitations, the users quota (`user-quota-exceeded`)',
                ),
              }
            : {}),
          ...(failClosed
            ? { 503: documented('The rate limiter cannot reach Redis (`rate-limiter-unavailable`)') }
            : {}),
          ...(schema.response as Record<string, unknown> | undefined),
        },
      };
    });

    // Every step reads the caller's plan from the request, looked up once (`planLimitOf`).
    scope.decorateRequest('tenantPlanLimit', null);
    const steps = { deps, limitOf: planLimits(deps.catalog, deps.config) };
    await scope.register(quotaCheck, steps);
    await scope.register(rateLimit, steps);
    await scope.register(apiCallMetering, steps);
  },
  { name: 'tenant-request-path' },
);

const documented = (description: string) => ({ ...problemJsonSchema, description });
