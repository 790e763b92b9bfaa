import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import {
  adminActorHeader,
  adminRouteSecurity as security,
  adminUnauthorizedSchema as unauthorized,
} from '../../plugins/adminAuth.js';
import { problemJsonSchema } from '../../problems.js';
import { type JsonSchema, zodSchema } from '../../schema.js';
import { TenantNotFound } from './problems.js';
import { provisioningStatusPath } from './registration.js';
import { SuspendBody, TenantDetail, TenantItem, TenantListQuery, TenantPage, TenantParams } from './schemas.js';
import { activation, changeTenantStatus, retryTenantProvisioning, showTenant, suspension } from './tenantLifecycle.js';
import { listTenants } from './tenantList.js';

const problem = (description: string): JsonSchema => ({ ...problemJsonSchema, description });
const badRequest = problem('A parameter or the cursor is invalid');
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
 * Operators' tenant routes under `/api/admin/tenants`: the list and detail, suspension and
 * reactivation. Registered in the admin scope (behind `X-Admin-Key`).
 */
export const tenantAdminRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const { operations: tracker } = deps;

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

  app.post<{ Params: TenantParams; Body: SuspendBody | undefined }>(
    '/api/admin/tenants/:id/suspend',
    {
      schema: {
        summary: 'Suspend a tenant: its users cannot log in, its tokens stop working',
        description:
          'Idempotent: suspending a suspended tenant answers 200. Audited. The body is optional (the reason too).',
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: actorHeader,
        body: zodSchema(SuspendBody),
        response: statusChangeResponses,
      },
      // The seed's call has no body at all: the same as `{}`.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const result = await changeTenantStatus(
        deps,
        tracker,
        request,
        suspension,
        request.params.id,
        request.body?.reason?.trim(),
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

  app.post<{ Params: TenantParams }>(
    '/api/admin/tenants/:id/retry',
    {
      schema: {
        summary: 'Retry a failed provisioning from where it stopped',
        description:
          'A provisioning that stopped on a transient database error (no free connection, server restarting) ' +
          'undid nothing and resumes at the failed step; one that was compensated starts again from the first ' +
          'step. Answers 202 at once with `Location` of the provisioning status; retrying a tenant that is ' +
          'provisioning already changes nothing. Audited.',
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: actorHeader,
        response: {
          202: { ...zodSchema(TenantItem, { io: 'output' }), description: 'Provisioning again: poll Location' },
          400: badRequest,
          401: unauthorized,
          404: problem('No tenant has this id'),
          409: problem('The tenant did not fail (it is active or suspended): nothing to retry'),
        },
      },
    },
    async (request, reply) => {
      const { tenant, provisioningId } = await retryTenantProvisioning(deps, request, request.params.id);
      return reply.code(202).header('location', provisioningStatusPath(provisioningId)).send(tenant);
    },
  );
};
