import { OperationId, Slug, TenantId } from '@ttm/contracts';
import { z } from 'zod';

export const OperationParams = z.object({ id: OperationId });
export type OperationParams = z.output<typeof OperationParams>;

export const OperationBody = z
  .object({
    id: OperationId,
    kind: z
      .enum(['provisioning', 'backup', 'restore', 'verification', 'migration', 'upgrade'])
      .describe('What the operation does'),
    tenant_id: TenantId.nullable().describe('The tenant it is about (null for a fleet upgrade)'),
    backup_id: z.uuid().optional().describe('The backup a backup, restore or verification operation is about'),
    status: z.enum(['pending', 'running', 'succeeded', 'failed']),
    progress: z.number().int().min(0).max(100),
    step: z
      .string()
      .nullable()
      .describe(
        'The step done last (provisioning: reserve-slug, place, …, activate; migration: freeze, copy, verify, switch, unfreeze, remove-source; upgrade: wave N of M, paused: why, cancelled, completed)',
      ),
    started_at: z.iso.datetime({ offset: true }),
    updated_at: z.iso.datetime({ offset: true }),
    result: z
      .union([z.object({ tenant_id: TenantId, slug: Slug }), z.record(z.string(), z.unknown())])
      .optional()
      .describe(
        'What a succeeded operation produced (provisioning: the tenant id and slug; migration: source, target, rows, freeze_ms, duration_ms, source removal)',
      ),
    error: z.string().optional().describe('Why a failed operation failed'),
    source: z
      .record(z.string(), z.unknown())
      .nullable()
      .optional()
      .describe('Migration: the placement the tenant is moved from'),
    target: z
      .record(z.string(), z.unknown())
      .nullable()
      .optional()
      .describe('Migration: the placement the tenant is moved to'),
    counts: z
      .record(z.string(), z.number().int().min(0))
      .optional()
      .describe('Upgrade: tenants pending, running, ok, failed, skipped'),
    tenants: z
      .array(
        z.object({
          tenant_id: TenantId,
          wave: z.number().int().min(0),
          status: z.enum(['pending', 'running', 'ok', 'failed', 'skipped']),
          error: z.string().nullable(),
        }),
      )
      .optional()
      .describe('Upgrade: each tenant, in upgrade order, with why it failed or was skipped'),
  })
  .describe('A long-running operation');

export const ProvisioningStatusBody = z
  .object({
    provisioning_id: OperationId,
    tenant_id: TenantId,
    status: z.enum(['pending', 'provisioning', 'active', 'failed']),
    progress: z.number().int().min(0).max(100),
    step: z.string().nullable(),
    slug: Slug.nullable().describe('Workspace subdomain, once reserved'),
    error: z.string().optional().describe('Why provisioning failed'),
  })
  .describe('Where the provisioning of a registered organization stands');
