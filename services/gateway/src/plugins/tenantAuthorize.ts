import type { onRequestAsyncHookHandler } from 'fastify';
import type { GatewayDeps } from '../deps.js';
import { callerWorkspace, principalOf } from '../features/tenantApi/context.js';
import { InsufficientScope, RoleRequired } from '../features/tenantApi/problems.js';
import {
  everyRoleMay,
  liveRole,
  permissionFor,
  rolePermissions,
  type TenantPermission,
} from '../features/users/roles.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route lets its caller do (default: `records:read` for GET/HEAD, `records:write` otherwise). */
    permission?: TenantPermission;
  }
}

/**
 * Roles and scopes on every tenant route, right after authentication: an API key needs the
 * route's permission among its scopes, and a route not every role may use (managing users,
 * keys, webhooks) needs the caller's live role in the workspace (for a key, its creator's) to
 * allow it, read from the data plane on each such request, so a demotion or removal applies at once.
 */
export function tenantAuthorize(deps: GatewayDeps): onRequestAsyncHookHandler {
  return async (request) => {
    const principal = principalOf(request);
    const needed = permissionFor(request.method, request.routeOptions.config?.permission);
    if (principal.via === 'api-key' && !(principal.scopes ?? []).includes(needed)) throw new InsufficientScope(needed);
    if (everyRoleMay(needed)) return;
    const role = await liveRole(callerWorkspace(deps, request), principal.userId);
    if (role === undefined || !rolePermissions[role].includes(needed)) throw new RoleRequired(needed);
  };
}
