import type { Catalog } from '@ttm/service-kit';
import type { GatewayConfig } from '../../config.js';
import { RATE_POLICY } from './problems.js';
import type { RatePolicy } from './rateLimiter.js';

export interface PlanLimit {
  /** Plan label of the metrics: the plan's name, or `unknown` (the catalog does not have it). */
  label: string;
  policy: RatePolicy;
  windowSeconds: number;
  /** `RateLimit-Policy` field value (draft-ietf-httpapi-ratelimit-headers): `"tenant";q=100;w=60`. */
  policyField: string;
}

/**
 * The rate limit of a tenant's plan: the plan's `rateLimit` (PLANS), else RATE_LIMIT_MAX_REQUESTS
 * per RATE_LIMIT_WINDOW_MS. Built once per plan.
 */
export function planLimits(
  catalog: Catalog,
  config: Pick<GatewayConfig, 'RATE_LIMIT_MAX_REQUESTS' | 'RATE_LIMIT_WINDOW_MS'>,
): (planName: string | undefined) => PlanLimit {
  const plans = new Map<string, PlanLimit>();
  const fallback = planLimit('unknown', {
    requests: config.RATE_LIMIT_MAX_REQUESTS,
    windowMs: config.RATE_LIMIT_WINDOW_MS,
  });
  return (planName) => {
    if (planName === undefined) return fallback;
    let limit = plans.get(planName);
    if (!limit) {
      const plan = catalog.plan(planName);
      if (!plan) return fallback;
      limit = planLimit(plan.name, plan.rateLimit);
      plans.set(planName, limit);
    }
    return limit;
  };
}

function planLimit(label: string, policy: RatePolicy): PlanLimit {
  const windowSeconds = Math.max(1, Math.round(policy.windowMs / 1_000));
  return { label, policy, windowSeconds, policyField: `"${RATE_POLICY}";q=${policy.requests};w=${windowSeconds}` };
}

/** Whole seconds, rounded up (delay-seconds of Retry-After and of the `t` parameter). */
export function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1_000));
}
