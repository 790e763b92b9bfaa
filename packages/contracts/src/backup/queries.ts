import { z } from 'zod';
import { PlanName, TenantId, Timestamp } from '../tenant/fields.js';
import { CoreSubjects } from '../topology.js';

/**
 * Request-reply subject the backup service answers (core NATS, queue group `backup`): the last
 * activity of tenants and what its idle sweep makes of them, for `GET /api/admin/tenants/idle`
 * and `tenant-cli idle`, without the gateway reading the backup database.
 */
export const IdleQuerySubjects = { tenants: CoreSubjects.idleTenantsQuery } as const;

/** Most tenants one reply carries. */
export const IDLE_TENANTS_PAGE = 1_000;

export const IdleTenantsRequest = z.object({
  /** Only these tenants (any status); without it, every active tenant. */
  tenantIds: z.array(TenantId).min(1).max(IDLE_TENANTS_PAGE).optional(),
  /** Only those idle past their plan's days (archive asked for or waiting). */
  idleOnly: z.boolean(),
  limit: z.number().int().min(1).max(IDLE_TENANTS_PAGE).default(100),
  /** The moment to judge at (default: now). */
  at: Timestamp.optional(),
});
export type IdleTenantsRequest = z.input<typeof IdleTenantsRequest>;

export const IdleTenant = z.object({
  tenantId: TenantId,
  plan: PlanName,
  status: z.string().min(1).max(32),
  /** `PLANS[].archiveIdleDays` of its plan (0: never archived for idleness). */
  idleDays: z.number().int().nonnegative(),
  lastActivityAt: Timestamp.nullable().describe('The latest of its sign-ins, API calls and activation'),
  lastSignInAt: Timestamp.nullable(),
  lastApiCallAt: Timestamp.nullable().describe('End of its last closed hourly api_calls window'),
  activeSince: Timestamp.nullable(),
  idleAt: Timestamp.nullable().describe('When it is (or was) idle past its plan days'),
  verdict: z
    .enum(['in-use', 'idle', 'archive-asked', 'not-active', 'plan-never-idle', 'migrating', 'no-activity-known'])
    .describe('What the idle sweep makes of it: idle tenants are archived at the next sweeps'),
});
export type IdleTenant = z.infer<typeof IdleTenant>;

export const IdleTenantsReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    tenants: z.array(IdleTenant),
    /** Tenants idle past their plan's days among those looked at. */
    idle: z.number().int().nonnegative(),
    truncated: z.boolean(),
  }),
  z.object({
    ok: z.literal(false),
    error: z.object({ code: z.enum(['bad-request', 'unavailable']), message: z.string() }),
  }),
]);
export type IdleTenantsReply = z.infer<typeof IdleTenantsReply>;
