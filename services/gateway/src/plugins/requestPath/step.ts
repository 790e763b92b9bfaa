import type { FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import type { PlanLimit } from './planLimits.js';

/** What each step of the tenant request path is registered with. */
export interface RequestPathStepOptions {
  deps: GatewayDeps;
  /** The rate limit (and metrics label) of a tenant's plan. */
  limitOf: (planName: string | undefined) => PlanLimit;
}

export const writeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's plan limit, resolved once per request by the first step that needs it (`planLimitOf`). */
    tenantPlanLimit: PlanLimit | null;
  }
}

/** The plan limit of the request's tenant: looked up in the directory once, then kept on the request. */
export function planLimitOf(request: FastifyRequest, tenantId: string, options: RequestPathStepOptions): PlanLimit {
  request.tenantPlanLimit ??= options.limitOf(options.deps.directory.get(tenantId)?.plan);
  return request.tenantPlanLimit;
}
