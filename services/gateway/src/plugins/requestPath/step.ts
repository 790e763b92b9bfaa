import type { GatewayDeps } from '../../deps.js';
import type { PlanLimit } from './planLimits.js';

/** What each step of the tenant request path is registered with. */
export interface RequestPathStepOptions {
  deps: GatewayDeps;
  /** The rate limit (and metrics label) of a tenant's plan. */
  limitOf: (planName: string | undefined) => PlanLimit;
}

export const writeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
