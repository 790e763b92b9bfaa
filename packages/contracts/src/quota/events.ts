import { z } from 'zod';
import { defineEvent } from '../message.js';
import { Actor, TenantId, Timestamp } from '../tenant/fields.js';
import { Meter, UsageValue } from '../usage/fields.js';
import { QuotaLimitOverrides } from './fields.js';

const aggregate = 'quota';

const crossing = {
  tenantId: TenantId,
  meter: Meter,
  window: Timestamp.describe('Start of the UTC month the notice is about (once per window, meter and limit)'),
  used: UsageValue,
  limit: z.number().int().positive().describe('The limit in force'),
  at: Timestamp,
};

export const QuotasOverridden = defineEvent({
  type: 'ttm.quota.overridden.v1',
  aggregate,
  description: "An operator overrode some of a tenant's limits",
  schema: z.object({ tenantId: TenantId, limits: QuotaLimitOverrides, actor: Actor, overriddenAt: Timestamp }),
});

export const QuotaWarning = defineEvent({
  type: 'ttm.quota.warning.v1',
  aggregate,
  description: 'A meter reached the warning threshold of its limit (QUOTA_WARNING_THRESHOLD %)',
  schema: z.object({ ...crossing, thresholdPercent: z.number().int().min(1).max(100) }),
});

export const QuotaExceeded = defineEvent({
  type: 'ttm.quota.exceeded.v1',
  aggregate,
  description: 'A meter reached 100 % of its limit: the gateway enforces it',
  schema: z.object(crossing),
});

export const QuotaCleared = defineEvent({
  type: 'ttm.quota.cleared.v1',
  aggregate,
  description: 'A meter that was in warning or exceeded is back under its threshold',
  schema: z.object({
    ...crossing,
    reason: z
      .enum(['limit-raised', 'usage-dropped', 'new-window'])
      .describe('Why: an override raised the limit, the usage went down, or a new month began'),
  }),
});

export const quotaEvents = [QuotasOverridden, QuotaWarning, QuotaExceeded, QuotaCleared] as const;
