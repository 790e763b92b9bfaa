import type { FastifyPluginAsync } from 'fastify';
import type { AuthDeps } from '../auth/runtime.js';

/** The tenant API (`/api/tenant/users`, `/api/tenant/objects/{object}`, API keys). Registered in the tenant scope. */
export const tenantRoutes: FastifyPluginAsync<AuthDeps> = async () => {};
