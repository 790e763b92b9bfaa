import type { onRequestAsyncHookHandler } from 'fastify';
import { requireTenantToken } from '../auth/index.js';
import type { AuthDeps } from '../auth/runtime.js';

/**
 * Who calls a tenant route: sets `request.principal` from the bearer access token (later: or a
 * tenant API key), or refuses. Runs first in the tenant scope, before limits and quotas.
 */
export function tenantAuthenticate(deps: AuthDeps): onRequestAsyncHookHandler {
  const guard = requireTenantToken(deps);
  return async function authenticate(request, reply) {
    await guard.call(this, request, reply);
  };
}
