import {
  IDLE_TENANTS_PAGE,
  IdleQuerySubjects,
  type IdleTenant,
  IdleTenantsReply,
  type IdleTenantsRequest,
} from '@ttm/contracts';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { adminRouteSecurity as security, adminUnauthorizedSchema as unauthorized } from '../../plugins/adminAuth.js';
import { createProblem, problemJsonSchema } from '../../problems.js';
import { zodSchema } from '../../schema.js';

const base = 'https://ttm.dev/problems';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const REQUEST_TIMEOUT_MS = 10_000;

export const IdleTenantsUnavailable = createProblem<[reason: string]>({
  code: 'TTM_IDLE_TENANTS_UNAVAILABLE',
  status: 503,
  type: `${base}/idle-tenants-unavailable`,
  title: 'Idle tenants unavailable',
  detail: 'the backup service did not answer (%s): retry',
});

export const IdleTenantsQuery = z.object({
  all: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe(
      'true: every active tenant with its last activity; false (default): only those idle past their plan days',
    ),
  tenant: z.uuid().optional().describe('Only this tenant (any status)'),
  limit: z.coerce.number().int().min(1).max(IDLE_TENANTS_PAGE).default(100),
});
type IdleTenantsQuery = z.input<typeof IdleTenantsQuery>;

const Time = z.iso.datetime({ offset: true }).nullable();
export const IdleTenantItem = z.object({
  tenant_id: z.uuid(),
  plan: z.string(),
  status: z.string(),
  idle_days: z.number().int().describe("The plan's archiveIdleDays (0: never archived for idleness)"),
  last_activity_at: Time.describe('The latest of its sign-ins, API calls (hourly) and activation'),
  last_sign_in_at: Time,
  last_api_call_at: Time.describe('End of its last closed hourly api_calls window'),
  idle_at: Time.describe('When it is, or was, idle past its plan days'),
  verdict: z
    .string()
    .describe('in-use, idle, archive-asked, not-active, plan-never-idle, migrating, no-activity-known'),
});
export const IdleTenantPage = z.object({
  items: z.array(IdleTenantItem),
  idle: z.number().int().describe('Active tenants idle past their plan days (archived by the next sweeps)'),
  truncated: z.boolean(),
});
type IdleTenantPage = z.output<typeof IdleTenantPage>;

/** Ask the backup service (`query.backup.idle-tenants`); the gateway never reads the backup database. */
async function askIdleTenants(deps: GatewayDeps, request: IdleTenantsRequest): Promise<IdleTenantPage> {
  let raw: Uint8Array;
  try {
    const msg = await deps.nc.request(IdleQuerySubjects.tenants, encoder.encode(JSON.stringify(request)), {
      timeout: REQUEST_TIMEOUT_MS,
    });
    raw = msg.data;
  } catch (error) {
    throw new IdleTenantsUnavailable((error as Error).message);
  }
  const parsed = IdleTenantsReply.safeParse(JSON.parse(decoder.decode(raw)));
  if (!parsed.success) throw new IdleTenantsUnavailable('its answer breaks the contract');
  if (!parsed.data.ok) throw new IdleTenantsUnavailable(parsed.data.error.message);
  const item = (t: IdleTenant) => ({
    tenant_id: t.tenantId,
    plan: t.plan,
    status: t.status,
    idle_days: t.idleDays,
    last_activity_at: t.lastActivityAt,
    last_sign_in_at: t.lastSignInAt,
    last_api_call_at: t.lastApiCallAt,
    idle_at: t.idleAt,
    verdict: t.verdict,
  });
  return { items: parsed.data.tenants.map(item), idle: parsed.data.idle, truncated: parsed.data.truncated };
}

/** `GET /api/admin/tenants/idle`: registered in the admin scope (behind `X-Admin-Key`). */
export const idleTenantRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  app.get<{ Querystring: IdleTenantsQuery }>(
    '/api/admin/tenants/idle',
    {
      schema: {
        summary: 'Tenants idle past their plan days, and every tenant last activity',
        description:
          "Last sign-in and API call per tenant and what the backup service's idle sweep makes of it, longest idle " +
          'first. Idle tenants are archived by the next sweeps (IDLE_ARCHIVE_SWEEP_EVERY, at most ' +
          'IDLE_ARCHIVE_MAX_PER_SWEEP each); their next sign-in brings them back.',
        tags: ['admin'],
        security,
        querystring: zodSchema(IdleTenantsQuery),
        response: {
          200: zodSchema(IdleTenantPage, { io: 'output' }),
          400: { ...problemJsonSchema, description: 'A parameter is invalid' },
          401: unauthorized,
          503: { ...problemJsonSchema, description: 'The backup service did not answer' },
        },
      },
    },
    async (request) => {
      const q = IdleTenantsQuery.parse(request.query);
      return askIdleTenants(deps, {
        idleOnly: !q.all && q.tenant === undefined,
        limit: q.limit,
        ...(q.tenant ? { tenantIds: [q.tenant] } : {}),
      });
    },
  );
};
