import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { zodSchema } from '../../schema.js';
import { apiKeyRoutes } from '../apiKeys/routes.js';
import { recordRoutes } from '../records/routes.js';
import { userRoutes } from '../users/routes.js';
import { principalOf } from './context.js';
import { problem, tenantSecurity } from './shared.js';

const TenantMe = z.object({
  tenant_id: z.uuid(),
  user_id: z.uuid(),
  slug: z.string().nullable(),
  plan: z.string(),
  status: z.string(),
  via: z.enum(['token', 'api-key']).describe('How the request authenticated'),
});

/**
 * The tenant API: `GET /api/tenant/me`, API keys, users, and the records of the standard Twenty
 * objects. Registered in the tenant scope, so every route is authenticated (access token or API
 * key), write-freeze checked, rate limited, quota checked and metered before it runs, and reaches
 * only the caller's own workspace.
 */
export const tenantRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  app.get(
    '/api/tenant/me',
    {
      schema: {
        summary: 'Who the access token or API key belongs to',
        tags: ['tenant'],
        security: tenantSecurity,
        response: { 200: zodSchema(TenantMe, { io: 'output' }), 401: problem, 403: problem },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const tenant = deps.directory.get(principal.tenantId)!;
      return {
        tenant_id: tenant.tenantId,
        user_id: principal.userId,
        slug: tenant.slug,
        plan: tenant.plan,
        status: tenant.status,
        via: principal.via,
      };
    },
  );
  await app.register(apiKeyRoutes, deps);
  await app.register(userRoutes, deps);
  await app.register(recordRoutes, deps);
};
