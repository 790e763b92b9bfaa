import type { FastifyPluginAsync } from 'fastify';
import type { AuthDeps } from '../auth/runtime.js';
import type { GatewayDeps } from '../deps.js';

/** `GET /api/tenant/quotas`, `GET /api/tenant/usage`: registered in the tenant scope. */
export const tenantQuotaRoutes: FastifyPluginAsync<AuthDeps> = async () => {};

/** `PUT /api/admin/tenants/{id}/quotas`, `GET /api/admin/tenants/{id}/usage`: registered by `adminRoutes`. */
export const adminQuotaRoutes: FastifyPluginAsync<GatewayDeps> = async () => {};
