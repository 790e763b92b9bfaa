import { z } from 'zod';
import { PlanName, Timestamp } from '../tenant/fields.js';
import { UsageValue } from '../usage/fields.js';
import { QuotaLevel, QuotaLimits } from './fields.js';

/**
 * `<tenantId>.limits` in the KV bucket `ttm-quota-state`: the plan's limits, written by the
 * provisioner when it provisions the tenant.
 */
export const QuotaLimitsEntry = z.object({
  plan: PlanName,
  quotas: QuotaLimits,
  rateLimit: z.object({ requests: z.number().int().positive(), windowMs: z.number().int().positive() }),
});
export type QuotaLimitsEntry = z.infer<typeof QuotaLimitsEntry>;

export const MeterQuotaState = z.object({
  limit: z.number().int().positive().describe('The limit in force (the plan, or an override)'),
  used: UsageValue.describe('api_calls: this UTC month so far; storage_bytes, users: the latest sample'),
  state: QuotaLevel,
});
export type MeterQuotaState = z.infer<typeof MeterQuotaState>;

/**
 * `<tenantId>.state` in `ttm-quota-state`: the enforcement state the quota service keeps and the
 * gateway reads (api_calls exceeded: 429; storage_bytes exceeded: writes refused; users exceeded:
 * invitations refused). No entry: nothing is enforced yet.
 */
export const QuotaStateEntry = z.object({
  api_calls: MeterQuotaState,
  storage_bytes: MeterQuotaState,
  users: MeterQuotaState,
  plan: PlanName,
  period: Timestamp.describe('Start of the UTC month api_calls counts in'),
  updatedAt: Timestamp,
});
export type QuotaStateEntry = z.infer<typeof QuotaStateEntry>;

/** Keys of a tenant's entries in `ttm-quota-state`. */
export const QuotaStateKeys = {
  /** The plan's limits (provisioner). */
  limits: (tenantId: string) => `${tenantId}.limits`,
  /** The enforcement state (quota). */
  state: (tenantId: string) => `${tenantId}.state`,
  /** Watch filters. */
  allLimits: '*.limits',
  allStates: '*.state',
} as const;
