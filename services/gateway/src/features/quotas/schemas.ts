import { Granularity, Meter, MeterKind, QuotaLevel, QuotaLimitOverrides, QuotaName, TenantId } from '@ttm/contracts';
import { z } from 'zod';

const Time = z.iso.datetime({ offset: true });
const Amount = z.number().int().nonnegative();

export const TenantParams = z.object({ id: TenantId });
export type TenantParams = z.output<typeof TenantParams>;

/** `PUT /api/admin/tenants/{id}/quotas`: at least one limit; a number overrides the plan, null restores it. */
export const OverrideBody = QuotaLimitOverrides.meta({ minProperties: 1 });
export type OverrideBody = z.output<typeof OverrideBody>;

const Limits = z.object({
  storage_bytes: z.number().int().positive(),
  users: z.number().int().positive(),
  api_calls_per_month: z.number().int().positive(),
});

export const QuotaOverrideResult = z.object({
  tenant_id: TenantId,
  plan: z.string(),
  limits: Limits.nullable().describe('The limits in force: the plan, with the overrides applied (null: unknown plan)'),
  overrides: z
    .object({
      storage_bytes: z.number().int().positive().optional(),
      users: z.number().int().positive().optional(),
      api_calls_per_month: z.number().int().positive().optional(),
    })
    .describe('The overrides in force (a quota absent here follows the plan)'),
  applied: z
    .boolean()
    .describe('true: the quota service recorded it and enforces the new limits; false (202): not seen in time'),
});
export type QuotaOverrideResult = z.output<typeof QuotaOverrideResult>;

export const QuotaItem = z.object({
  quota: QuotaName,
  meter: Meter,
  limit: z.number().int().positive(),
  used: Amount.describe('api_calls: this UTC month so far; storage_bytes, users: the latest sample'),
  remaining: Amount.describe('limit - used, never below 0'),
  state: QuotaLevel,
  overridden: z.boolean().describe("The limit is an operator's override, not the plan's"),
});
export type QuotaItem = z.output<typeof QuotaItem>;

export const QuotaReport = z.object({
  tenant_id: TenantId,
  plan: z.string(),
  period: Time.describe('Start of the UTC month api_calls counts in'),
  enforced: z.boolean().describe('The quota service has published an enforcement state for the tenant'),
  updated_at: Time.nullable().describe('When the quota service last wrote the enforcement state'),
  quotas: z.array(QuotaItem),
});
export type QuotaReport = z.output<typeof QuotaReport>;

export const UsageQuery = z.object({
  from: Time.optional().describe('Windows starting at or after this moment (default: `to` minus 30 days)'),
  to: Time.optional().describe('Windows starting before this moment (default: now)'),
  granularity: Granularity.default('day'),
  meter: Meter.optional().describe('Only this meter (default: all)'),
});
export type UsageQuery = z.output<typeof UsageQuery>;

export const UsageWindowItem = z.object({
  meter: Meter,
  kind: MeterKind,
  window_start: Time,
  window_end: Time,
  value: Amount.describe('count: the sum (so far, while open); gauge: the peak sample'),
  latest: Amount.optional().describe('gauge: the latest sample in the window'),
  closed: z.boolean().describe('The window is closed and published on BILLING: its value is final'),
});
export type UsageWindowItem = z.output<typeof UsageWindowItem>;

export const UsageReport = z.object({
  tenant_id: TenantId,
  granularity: Granularity,
  from: Time,
  to: Time,
  totals: z
    .array(z.object({ meter: Meter, kind: MeterKind, value: Amount }))
    .describe('Per meter over the range: count meters summed, gauge meters at their peak'),
  windows: z.array(UsageWindowItem).describe('Oldest first, then by meter'),
});
export type UsageReport = z.output<typeof UsageReport>;
