import { z } from 'zod';
import type { Meter } from '../usage/fields.js';

/** The limits a plan sets (`PLANS[].quotas`), by name. */
export const QuotaNames = ['storage_bytes', 'users', 'api_calls_per_month'] as const;
export const QuotaName = z.enum(QuotaNames);
export type QuotaName = z.infer<typeof QuotaName>;

/** The meter each quota limits. */
export const meterOfQuota: Readonly<Record<QuotaName, Meter>> = {
  storage_bytes: 'storage_bytes',
  users: 'users',
  api_calls_per_month: 'api_calls',
};

/** The quota that limits each meter. */
export const quotaOfMeter: Readonly<Record<Meter, QuotaName>> = {
  storage_bytes: 'storage_bytes',
  users: 'users',
  api_calls: 'api_calls_per_month',
};

const limit = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** A full set of limits, as a plan sets them. */
export const QuotaLimits = z
  .object({
    storage_bytes: limit.describe('Bytes of the workspace schema or database'),
    users: limit.describe('Users linked to the workspace'),
    api_calls_per_month: limit.describe('Tenant API calls per UTC month'),
  })
  .describe('Limits per quota');
export type QuotaLimits = z.infer<typeof QuotaLimits>;

/** Overrides of some limits: a number replaces the plan's limit, null goes back to it. */
export const QuotaLimitOverrides = z
  .object({
    storage_bytes: limit.nullable().optional(),
    users: limit.nullable().optional(),
    api_calls_per_month: limit.nullable().optional(),
  })
  .describe('Some limits: a number overrides the plan, null restores the plan limit, absent leaves it as is');
export type QuotaLimitOverrides = z.infer<typeof QuotaLimitOverrides>;

/** Where a meter stands against its limit. */
export const QuotaLevel = z
  .enum(['ok', 'warning', 'exceeded'])
  .describe('ok; warning from QUOTA_WARNING_THRESHOLD % of the limit; exceeded from 100 %');
export type QuotaLevel = z.infer<typeof QuotaLevel>;
