import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { adminActorHeader, adminRouteSecurity, adminUnauthorizedSchema } from '../../plugins/adminAuth.js';
import { tenantRouteSecurity } from '../../plugins/openapi.js';
import { problemJsonSchema } from '../../problems.js';
import { type JsonSchema, zodSchema } from '../../schema.js';
import { TenantNotFound } from '../tenants/problems.js';
import { overrideQuotas, QUOTA_OVERRIDE_WAIT_MS } from './override.js';
import { OverrideBody, QuotaOverrideResult, QuotaReport, TenantParams, UsageQuery, UsageReport } from './schemas.js';
import { usageOf } from './usage.js';

const problem = (description: string): JsonSchema => ({ ...problemJsonSchema, description });
const badRange = problem('A parameter is invalid, or the range is empty or too long for the granularity');
const usageUnavailable = problem('Metering did not answer (it is down or busy): retry');
const usageDescription =
  'Hourly, daily or monthly windows, aligned in UTC, oldest first: open windows carry their value so far, ' +
  'closed ones (`closed: true`) their final value, as published on BILLING. `from` is aligned down to the ' +
  'start of its window. Served by the metering service (NATS request-reply `query.usage.windows`).';

/** `GET /api/tenant/quotas`, `GET /api/tenant/usage`: registered in the tenant scope. */
export const tenantQuotaRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const reader = deps.quotas;
  const security = tenantRouteSecurity;
  const tags = ['tenant'];
  const unauthorized = problem('The bearer token is missing, invalid or expired');
  const suspended = problem('The organization is suspended');

  app.get(
    '/api/tenant/quotas',
    {
      config: { quotaExempt: true },
      schema: {
        summary: "The caller's organization: each quota's limit, use, what remains and its state",
        description:
          '`state` is what the gateway enforces (`exceeded` api_calls: 429; storage: writes refused; users: ' +
          'invitations refused). `used` is month-to-date for api_calls and the latest sample for the others.',
        tags,
        security,
        response: { 200: zodSchema(QuotaReport, { io: 'output' }), 401: unauthorized, 403: suspended },
      },
    },
    async (request) => {
      const tenantId = request.principal!.tenantId;
      const entry = deps.directory.get(tenantId);
      if (!entry) throw new TenantNotFound(tenantId);
      return reader.report(tenantId, entry.plan);
    },
  );

  app.get<{ Querystring: UsageQuery }>(
    '/api/tenant/usage',
    {
      config: { quotaExempt: true },
      schema: {
        summary: "The caller's organization: usage per meter in hourly, daily or monthly windows",
        description: usageDescription,
        tags,
        security,
        querystring: zodSchema(UsageQuery),
        response: {
          200: zodSchema(UsageReport, { io: 'output' }),
          400: badRange,
          401: unauthorized,
          403: suspended,
          503: usageUnavailable,
        },
      },
    },
    async (request) => usageOf(deps, request.principal!.tenantId, request.query),
  );
};

/** `PUT /api/admin/tenants/{id}/quotas`, `GET /api/admin/tenants/{id}/{quotas,usage}`: registered in the admin scope. */
export const adminQuotaRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const reader = deps.quotas;
  const security = adminRouteSecurity;
  const tags = ['quotas'];
  const unauthorized = adminUnauthorizedSchema;
  const notFound = problem('No tenant has this id');
  const headers = zodSchema(
    z.object({ [adminActorHeader]: z.string().optional().describe('Who the operator is, recorded in the audit log') }),
  );

  app.put<{ Params: TenantParams; Body: OverrideBody }>(
    '/api/admin/tenants/:id/quotas',
    {
      schema: {
        summary: "Override some of a tenant's plan limits (null goes back to the plan's limit)",
        description:
          'Publishes `cmd.quota.override`; answers 200 once the quota service recorded ' +
          '`ttm.quota.overridden.v1` and enforces the new limits, or 202 (`applied: false`) if that took longer ' +
          `than ${QUOTA_OVERRIDE_WAIT_MS / 1000} s. A quota left out keeps its current limit. Idempotent. Audited.`,
        tags,
        security,
        params: zodSchema(TenantParams),
        headers,
        body: zodSchema(OverrideBody),
        response: {
          200: { ...zodSchema(QuotaOverrideResult, { io: 'output' }), description: 'In force' },
          202: {
            ...zodSchema(QuotaOverrideResult, { io: 'output' }),
            description: 'Accepted, not seen in force in time; read the quotas again shortly',
          },
          400: problem('The body is empty or a limit is not a positive integer or null'),
          401: unauthorized,
          404: notFound,
          409: problem('The tenant failed to provision: it has no quotas to override'),
        },
      },
    },
    async (request, reply) => {
      const result = await overrideQuotas(deps, reader, request, request.params.id, request.body);
      if (!result.applied) reply.header('location', `/api/admin/tenants/${request.params.id}/quotas`);
      return reply.code(result.applied ? 200 : 202).send(result);
    },
  );

  app.get<{ Params: TenantParams }>(
    '/api/admin/tenants/:id/quotas',
    {
      schema: {
        summary: "A tenant's quotas: limit (plan or override), use, what remains and state per meter",
        tags,
        security,
        params: zodSchema(TenantParams),
        response: {
          200: zodSchema(QuotaReport, { io: 'output' }),
          400: problem('The id is not a uuid'),
          401: unauthorized,
          404: notFound,
        },
      },
    },
    async (request) => {
      const entry = deps.directory.get(request.params.id);
      if (!entry) throw new TenantNotFound(request.params.id);
      return reader.report(entry.tenantId, entry.plan);
    },
  );

  app.get<{ Params: TenantParams; Querystring: UsageQuery }>(
    '/api/admin/tenants/:id/usage',
    {
      schema: {
        summary: "A tenant's usage per meter in hourly, daily or monthly windows",
        description: usageDescription,
        tags,
        security,
        params: zodSchema(TenantParams),
        querystring: zodSchema(UsageQuery),
        response: {
          200: zodSchema(UsageReport, { io: 'output' }),
          400: badRange,
          401: unauthorized,
          404: notFound,
          503: usageUnavailable,
        },
      },
    },
    async (request) => {
      if (!deps.directory.get(request.params.id)) throw new TenantNotFound(request.params.id);
      return usageOf(deps, request.params.id, request.query);
    },
  );
};
