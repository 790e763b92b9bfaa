import { AuditAction, Email, OperationId, Placement, PlanName, RegionName, Slug, TenantId } from '@ttm/contracts';
import { z } from 'zod';

export const tenantStatuses = ['pending', 'provisioning', 'active', 'failed', 'suspended'] as const;
const TenantStatus = z.enum(tenantStatuses);
const Time = z.iso.datetime({ offset: true });
const Limit = z.coerce.number().int().min(1).max(200).default(50).describe('Items per page (1-200)');
const Cursor = z.string().min(1).max(512).describe('`next_cursor` of the previous page');

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

const Counts = z.record(z.string(), z.number().int().nonnegative());
const Seconds = z.number().nonnegative().nullable();

export const FleetStats = z.object({
  tenants: z.object({
    total: z.number().int().nonnegative(),
    by_status: Counts,
    by_plan: Counts,
    by_region: Counts,
  }),
  provisioning: z.object({
    queue_depth: z
      .number()
      .int()
      .nonnegative()
      .nullable()
      .describe('Tenant commands waiting for the provisioner (null when NATS cannot tell)'),
    completed: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    duration_seconds: z
      .object({ p50: Seconds, p95: Seconds, p99: Seconds })
      .describe('Registration to active, over every completed provisioning'),
  }),
});
export type FleetStats = z.output<typeof FleetStats>;

export const AuditQuery = z.object({
  tenant: z.string().min(1).max(64).optional().describe('Tenant id (or `system`) the entries are about'),
  actor: z.string().min(1).max(210).optional().describe('Actor id, or `kind:id` (admin:ops@example.com)'),
  action: AuditAction.optional(),
  from: Time.optional().describe('Entries at or after this time'),
  to: Time.optional().describe('Entries before this time'),
  limit: Limit,
  cursor: Cursor.optional(),
});
export type AuditQuery = z.output<typeof AuditQuery>;

export const AuditItem = z.object({
  id: z.string().describe('CloudEvent id of the entry'),
  time: Time,
  actor: z.object({ kind: z.enum(['admin', 'user', 'system']), id: z.string() }),
  action: z.string(),
  scope: z.string().describe('Tenant id, or `system`'),
  target: z.string().nullable().describe('Id of what was acted on'),
  target_kind: z.string().nullable(),
  client_address: z.string().nullable(),
  request_id: z.string().nullable(),
  outcome: z.enum(['success', 'failure']),
  detail: z.string().nullable(),
});
export type AuditItem = z.output<typeof AuditItem>;

export const AuditPage = z.object({
  items: z.array(AuditItem).describe('Newest first'),
  next_cursor: z.string().nullable(),
});
