import type { FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { type Workspace, workspaceOf } from '../dataPlane/workspace.js';

/** The authenticated caller of a tenant route (the tenant scope refuses requests without one). */
export function principalOf(request: FastifyRequest) {
  const principal = request.principal;
  if (!principal) throw new Error('tenant route reached without an authenticated principal');
  return principal;
}

/**
 * The caller's own workspace: placement from the tenant directory for the principal's tenant,
 * nothing from the request. This is the only way a tenant route reaches the data plane.
 */
export function callerWorkspace(deps: GatewayDeps, request: FastifyRequest): Workspace {
  const { tenantId } = principalOf(request);
  const tenant = deps.directory.get(tenantId);
  if (!tenant?.placement) throw new Error(`tenant ${tenantId} has no placement in the directory`);
  return workspaceOf(deps.clusterPools, tenant.tenantId, tenant.placement);
}
