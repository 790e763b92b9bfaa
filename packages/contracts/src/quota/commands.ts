import { z } from 'zod';
import { defineCommand } from '../message.js';
import { Actor, TenantId } from '../tenant/fields.js';
import { CommandSubjects } from '../topology.js';
import { QuotaLimitOverrides } from './fields.js';

export const OverrideQuotas = defineCommand({
  type: 'ttm.quota.override.v1',
  subject: CommandSubjects.quotaOverride,
  description: "Override some of one tenant's plan limits (null restores the plan's limit)",
  schema: z.object({ tenantId: TenantId, limits: QuotaLimitOverrides, actor: Actor }),
});

export const quotaCommands = [OverrideQuotas] as const;
