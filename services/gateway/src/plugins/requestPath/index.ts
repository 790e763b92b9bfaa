import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayDeps } from '../../deps.js';
import { problemJsonSchema } from '../../problems.js';
import { sendProblem } from '../problemDetails.js';
import type { RequestPathMetrics } from './metrics.js';
import {
  quotaProblem,
  RATE_POLICY,
  rateLimitedProblem,
  rateLimiterUnavailableProblem,
  requestPathProblemTypes,
} from './problems.js';
import type { QuotaGate } from './quotaGate.js';
import type { RateLimiter, RatePolicy } from './rateLimiter.js';
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

const writeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface PlanLimit {
  /** Plan label of the metrics: the plan's name, or `unknown` (the catalog does not have it). */
  label: string;
  policy: RatePolicy;
  windowSeconds: number;
  /** `RateLimit-Policy` field value (draft-ietf-httpapi-ratelimit-headers): `"tenant";q=100;w=60`. */
  policyField: string;
}

/**
 * The tenant request path after authentication: quota check, rate limit, metering. Registered
 * in the tenant scope after `tenantAuthenticate` and the write freeze (fp-wrapped, so its hook
 * applies to the whole scope), as an `onRequest` hook: a refused request is answered before its
 * body is read.
 *
 * Per request, in order:
 * 1. quota (memory): over api_calls → 429 `api-call-quota-exceeded` with Retry-After (next UTC
 *    month); over storage_bytes → writes 403 `storage-quota-exceeded`, reads served; over users →
 *    routes with `config.quotaMeter: 'users'` 403 `user-quota-exceeded`. A refused request spends
 *    no rate limit.
 * 2. rate limit (Redis, one EVALSHA; or memory while the tenant is known to be limited): the
 *    plan's `rateLimit` (PLANS), else RATE_LIMIT_MAX_REQUESTS per RATE_LIMIT_WINDOW_MS. Every
 *    answer carries `RateLimit-Policy` and `RateLimit`; past it 429 `rate-limited` with
 *    Retry-After. Redis down or slower than RATE_LIMIT_REDIS_TIMEOUT: RATE_LIMIT_FAILURE_MODE
 *    `local` (default) limits the tenant in memory to this gateway's share of its limit,
 *    `open` serves the request, `closed` answers 503 `rate-limiter-unavailable` (never a 500).
 * 3. metering: the allowed call is counted in memory and published with the others every
 *    USAGE_FLUSH_INTERVAL (and at shutdown) as `api_calls` usage.
 */
export const tenantRequestPath: FastifyPluginAsync<GatewayDeps> = fp(
  async (scope: FastifyInstance, deps: GatewayDeps) => {
    const { config } = deps;
    const { metrics, gate, meter, limiter } = deps.requestPath;
    const failClosed = config.RATE_LIMIT_FAILURE_MODE === 'closed';

    const plans = new Map<string, PlanLimit>();
    const fallback = planLimit('unknown', {
      requests: config.RATE_LIMIT_MAX_REQUESTS,
      windowMs: config.RATE_LIMIT_WINDOW_MS,
    });
    const limitOf = (planName: string | undefined): PlanLimit => {
      if (planName === undefined) return fallback;
      let limit = plans.get(planName);
      if (!limit) {
        const plan = deps.catalog.plan(planName);
        if (!plan) return fallback;
        limit = planLimit(plan.name, plan.rateLimit);
        plans.set(planName, limit);
      }
      return limit;
    };

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

    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const principal = request.principal;
      if (!principal) return;
      const { tenantId } = principal;
      const limit = limitOf(deps.directory.get(tenantId)?.plan);

      const routeConfig = request.routeOptions.config;
      const exempt = routeConfig?.quotaExempt === true;
      const refusal = gate.check(tenantId, {
        write: writeMethods.has(request.method),
        routeMeter: routeConfig?.quotaMeter,
        apiCallExempt: exempt,
      });
      if (refusal) {
        metrics.quotaRefusals.inc({ meter: refusal.meter });
        metrics.requests.inc({ plan: limit.label, outcome: 'quota' });
        if (refusal.retryAfterMs !== undefined) reply.header('retry-after', seconds(refusal.retryAfterMs));
        return sendProblem(request, reply, quotaProblem(refusal));
      }

      if (limiter) {
        reply.header('ratelimit-policy', limit.policyField);
        const decision = await limiter.take(tenantId, limit.policy);
        if (decision.outcome === 'allowed') {
          reply.header('ratelimit', `"${RATE_POLICY}";r=${decision.remaining};t=${seconds(decision.resetMs)}`);
        } else if (decision.outcome === 'limited') {
          const retryAfter = seconds(decision.retryAfterMs);
          metrics.requests.inc({ plan: limit.label, outcome: 'limited' });
          reply.header('ratelimit', `"${RATE_POLICY}";r=0;t=${retryAfter}`).header('retry-after', retryAfter);
          return sendProblem(
            request,
            reply,
            rateLimitedProblem(limit.policy.requests, limit.windowSeconds, retryAfter),
          );
        } else if (failClosed) {
          metrics.requests.inc({ plan: limit.label, outcome: 'unavailable' });
          reply.header('retry-after', 1);
          return sendProblem(request, reply, rateLimiterUnavailableProblem());
        }
      }

      metrics.requests.inc({ plan: limit.label, outcome: 'allowed' });
      if (exempt) return;
      gate.counted(tenantId);
      meter.count(tenantId);
    });
  },
  { name: 'tenant-request-path' },
);

const documented = (description: string) => ({ ...problemJsonSchema, description });

function planLimit(label: string, policy: RatePolicy): PlanLimit {
  const windowSeconds = Math.max(1, Math.round(policy.windowMs / 1_000));
  return { label, policy, windowSeconds, policyField: `"${RATE_POLICY}";q=${policy.requests};w=${windowSeconds}` };
}

/** Whole seconds, rounded up (delay-seconds of Retry-After and of the `t` parameter). */
function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1_000));
}
