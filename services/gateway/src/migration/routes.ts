import type { FastifyPluginAsync } from 'fastify';
import type { GatewayDeps } from '../deps.js';

/** `POST /api/admin/tenants/{id}/migrate`: registered by `adminRoutes`. */
export const migrationRoutes: FastifyPluginAsync<GatewayDeps> = async () => {};
