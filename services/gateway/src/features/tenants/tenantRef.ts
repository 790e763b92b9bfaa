import { Slug } from '@ttm/contracts';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { GatewayDeps } from '../../deps.js';
import { TenantNotFound } from './problems.js';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const tenantRoutes = '/api/admin/tenants/';

/**
 * Every `/api/admin/tenants/{id}/...` route takes the tenant's slug as well as its id (as the
 * seed's calls and `tenant-cli show acme-corp` do): before validation, a slug in `:id` becomes
 * the id the directory holds for it; an unknown slug is a 404 like an unknown id.
 */
export const tenantBySlug: FastifyPluginAsync<GatewayDeps> = fp(
  async (app: FastifyInstance, deps: GatewayDeps) => {
    app.addHook('preValidation', async (request) => {
      if (!request.url.startsWith(tenantRoutes)) return;
      const params = request.params as Record<string, unknown> | undefined;
      const ref = params?.id;
      // Neither a uuid nor a slug: left to the route's validation (400).
      if (typeof ref !== 'string' || uuid.test(ref) || !Slug.safeParse(ref).success) return;
      const entry = deps.directory.bySlug(ref);
      if (!entry) throw new TenantNotFound(ref);
      params!.id = entry.tenantId;
    });
  },
  { name: 'admin-tenant-by-slug' },
);
