import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../auth/runtime.js';
import { type Workspace, workspaceOf } from '../dataPlane/workspace.js';
import { ApiKeys } from './apiKeys.js';

const apiKeysByConnection = new WeakMap<object, ApiKeys>();

/** The gateway's one `ApiKeys` (shared by authentication and the key routes; it listens for revocations). */
export function apiKeysOf(deps: AuthDeps): ApiKeys {
  let keys = apiKeysByConnection.get(deps.nc);
  if (!keys) {
    keys = new ApiKeys({
      pool: deps.pool,
      nc: deps.nc,
      logger: deps.logger,
      cacheTtlMs: deps.config.API_KEY_CACHE_TTL,
    });
    apiKeysByConnection.set(deps.nc, keys);
  }
  return keys;
}

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
export function callerWorkspace(deps: AuthDeps, request: FastifyRequest): Workspace {
  const { tenantId } = principalOf(request);
  const tenant = deps.directory.get(tenantId);
  if (!tenant?.placement) throw new Error(`tenant ${tenantId} has no placement in the directory`);
  return workspaceOf(deps.clusterPools, tenant.tenantId, tenant.placement);
}
