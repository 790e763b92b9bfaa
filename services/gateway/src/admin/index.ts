import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { backupRoutes } from '../backups/routes.js';
import type { GatewayDeps } from '../deps.js';
import { migrationRoutes } from '../migration/routes.js';
import { operationTrackerOf } from '../operations/tracker.js';
import { adminActorHeader, adminAuth } from '../plugins/adminAuth.js';
import { securitySchemes } from '../plugins/openapi.js';
import { problemJsonSchema } from '../problems.js';
import { adminQuotaRoutes } from '../quotas/routes.js';
import { type JsonSchema, zodSchema } from '../schema.js';
import { searchAuditLog } from './auditLog.js';
import { consumerBacklogOf } from './backlog.js';
import { TenantNotFound } from './problems.js';
import {
  AuditPage,
  AuditQuery,
  FleetStats,
  SuspendBody,
  TenantDetail,
  TenantItem,
  TenantListQuery,
  TenantPage,
  TenantParams,
} from './schemas.js';
import { fleetStats } from './stats.js';
import { activation, changeTenantStatus, showTenant, suspension } from './tenantLifecycle.js';
import { listTenants } from './tenantList.js';

export { auditProjection } from './auditLog.js';
export { fleetMetrics } from './fleetMetrics.js';

const problem = (description: string): JsonSchema => ({ ...problemJsonSchema, description });
const unauthorized = problem('X-Admin-Key is missing or wrong (a bearer token is not an admin key)');
const badRequest = problem('A parameter or the cursor is invalid');
const security = [{ [securitySchemes.adminKey]: [] }];
const tags = ['admin'];
// Documented only: a value that is not sane is ignored, never refused.
const actorHeader = zodSchema(
  z.object({
    [adminActorHeader]: z
      .string()
      .optional()
      .describe('Who the operator is (e.g. ops@example.com), recorded in the audit log'),
  }),
);

/**
 * Operators' API under `/api/admin`, every route behind `X-Admin-Key`: the tenant list and
 * detail, suspension and reactivation, fleet statistics and the audit log.
 */
export const adminRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const tracker = operationTrackerOf(deps);
  const backlog = consumerBacklogOf(deps.js);
  await app.register(adminAuth, {
    adminKey: deps.config.SUPER_ADMIN_KEY,
    audit: deps.audit,
    logger: deps.logger,
    ...(deps.adminSession ? { session: deps.adminSession } : {}),
  });
  // Child plugins inherit the guard above.
  await app.register(backupRoutes, deps);
  await app.register(adminQuotaRoutes, deps);
  await app.register(migrationRoutes, deps);

  app.get<{ Querystring: TenantListQuery }>(
    '/api/admin/tenants',
    {
      schema: {
        summary: 'List tenants, newest first, filtered, one page at a time',
        description:
          'Stable order (registered_at, then id, both descending) with keyset pagination: pass `next_cursor` ' +
          'as `cursor` for the next page. `q` matches a substring of the organization name, slug or admin e-mail, ' +
          'ignoring case.',
        tags,
        security,
        querystring: zodSchema(TenantListQuery),
        response: { 200: zodSchema(TenantPage, { io: 'output' }), 400: badRequest, 401: unauthorized },
      },
    },
    async (request) => listTenants(deps.pool, request.query),
  );

  app.get<{ Params: TenantParams }>(
    '/api/admin/tenants/:id',
    {
      schema: {
        summary: 'One tenant: record, placement, quotas, provisioning and event timeline',
        tags,
        security,
        params: zodSchema(TenantParams),
        response: {
          200: zodSchema(TenantDetail, { io: 'output' }),
          400: badRequest,
          401: unauthorized,
          404: problem('No tenant has this id'),
        },
      },
    },
    async (request) => {
      const tenant = await showTenant(deps, request.params.id);
      if (!tenant) throw new TenantNotFound(request.params.id);
      return tenant;
    },
  );

  const statusChangeResponses = {
    200: { ...zodSchema(TenantItem, { io: 'output' }), description: 'The tenant, in its new status' },
    202: {
      ...zodSchema(TenantItem, { io: 'output' }),
      description: 'Accepted, not applied within 5 s: the tenant as it stands; poll it',
    },
    400: badRequest,
    401: unauthorized,
    404: problem('No tenant has this id'),
    409: problem('The tenant is not in a status this change applies to (e.g. still provisioning)'),
  };

  app.post<{ Params: TenantParams; Body: SuspendBody }>(
    '/api/admin/tenants/:id/suspend',
    {
      schema: {
        summary: 'Suspend a tenant: its users cannot log in, its tokens stop working',
        description: 'Idempotent: suspending a suspended tenant answers 200. Audited.',
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: actorHeader,
        body: zodSchema(SuspendBody),
        response: statusChangeResponses,
      },
    },
    async (request, reply) => {
      const result = await changeTenantStatus(
        deps,
        tracker,
        request,
        suspension,
        request.params.id,
        request.body.reason.trim(),
      );
      if (result.code === 202) reply.header('location', `/api/admin/tenants/${request.params.id}`);
      return reply.code(result.code).send(result.tenant);
    },
  );

  app.post<{ Params: TenantParams }>(
    '/api/admin/tenants/:id/activate',
    {
      schema: {
        summary: 'Reactivate a suspended tenant',
        description: 'Idempotent: activating an active tenant answers 200. Audited.',
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: actorHeader,
        response: statusChangeResponses,
      },
    },
    async (request, reply) => {
      const result = await changeTenantStatus(deps, tracker, request, activation, request.params.id);
      if (result.code === 202) reply.header('location', `/api/admin/tenants/${request.params.id}`);
      return reply.code(result.code).send(result.tenant);
    },
  );

  app.get(
    '/api/admin/stats',
    {
      schema: {
        summary: 'Fleet totals by status, plan and region; provisioning queue and durations',
        tags,
        security,
        response: { 200: zodSchema(FleetStats, { io: 'output' }), 401: unauthorized },
      },
    },
    async () => fleetStats({ pool: deps.pool, backlog, logger: deps.logger }),
  );

  app.get<{ Querystring: AuditQuery }>(
    '/api/admin/audit',
    {
      schema: {
        summary: 'Who did what, when, from where, with what outcome; newest first',
        tags,
        security,
        querystring: zodSchema(AuditQuery),
        response: { 200: zodSchema(AuditPage, { io: 'output' }), 400: badRequest, 401: unauthorized },
      },
    },
    async (request) => searchAuditLog(deps.pool, request.query),
  );
};
