import { Email, OperationId, Placement, PlanName, RegionName, Slug, TenantId } from '@ttm/contracts';
import { z } from 'zod';

export const tenantStatuses = ['pending', 'provisioning', 'active', 'failed', 'suspended', 'archived'] as const;
const TenantStatus = z.enum(tenantStatuses);
export const Time = z.iso.datetime({ offset: true });
export const Limit = z.coerce.number().int().min(1).max(200).default(50).describe('Items per page (1-200)');
export const Cursor = z.string().min(1).max(512).describe('`next_cursor` of the previous page');

export const TenantParams = z.object({ id: TenantId });
export type TenantParams = z.output<typeof TenantParams>;

export const TenantListQuery = z.object({
  status: TenantStatus.optional(),
  plan: PlanName.optional(),
  region: RegionName.optional(),
  q: z
    .string()
    .min(1)
    .max(100)
    // Control characters never occur in a search; U+001F separates the searched fields.
    .regex(/^\P{Cc}+$/u, 'must not contain control characters')
    .optional()
    .describe('Case-insensitive text contained in the organization name, slug or admin e-mail'),
  limit: Limit,
  cursor: Cursor.optional(),
});
export type TenantListQuery = z.output<typeof TenantListQuery>;

export const TenantItem = z.object({
  id: TenantId,
  organization_name: z.string(),
  slug: Slug.nullable(),
  admin_email: Email,
  plan: PlanName,
  region: RegionName,
  status: TenantStatus,
  progress: z.number().int().min(0).max(100),
  registered_at: Time,
  updated_at: Time,
});
export type TenantItem = z.output<typeof TenantItem>;

export const TenantPage = z.object({
  items: z.array(TenantItem),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});

export const ProvisioningSummary = z.object({
  id: OperationId,
  status: z.enum(['pending', 'running', 'succeeded', 'failed']),
  progress: z.number().int().min(0).max(100),
  step: z.string().nullable(),
  error: z.string().nullable(),
  started_at: Time.nullable(),
  finished_at: Time.nullable(),
  duration_ms: z.number().int().nonnegative().nullable(),
});
export type ProvisioningSummary = z.output<typeof ProvisioningSummary>;

export const TimelineEvent = z.object({
  seq: z.number().int().positive().describe('Sequence in the EVENTS stream'),
  type: z.string().describe('CloudEvents type, e.g. ttm.tenant.provisioned.v1'),
  time: Time,
  data: z.record(z.string(), z.unknown()),
});
export type TimelineEvent = z.output<typeof TimelineEvent>;

export const TenantDetail = TenantItem.extend({
  placement: Placement.nullable(),
  quotas: z
    .object({
      storage_bytes: z.number().int().positive(),
      users: z.number().int().positive(),
      api_calls_per_month: z.number().int().positive(),
    })
    .nullable()
    .describe("The plan's quotas (null if the plan is no longer configured)"),
  suspended_reason: z.string().nullable(),
  provisioning: ProvisioningSummary,
  timeline: z.array(TimelineEvent).describe('Every event of the tenant, oldest first'),
});
export type TenantDetail = z.output<typeof TenantDetail>;

export const SuspendBody = z.object({
  reason: z
    .string()
    .min(1)
    .max(500)
    .regex(/\S/, 'must not be blank')
    .optional()
    .describe('Why, for the audit log and the tenant record (optional)'),
});
export type SuspendBody = z.output<typeof SuspendBody>;
