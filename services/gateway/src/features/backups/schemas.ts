import { BackupId, BackupManifest, RestoreMode, TableMismatch, TenantId } from '@ttm/contracts';
import { z } from 'zod';

const Time = z.iso.datetime({ offset: true });

export const TenantParams = z.object({ id: TenantId });
export type TenantParams = z.output<typeof TenantParams>;

export const BackupParams = z.object({ backupId: BackupId });
export type BackupParams = z.output<typeof BackupParams>;

export const BackupListQuery = z.object({
  include_deleted: z.boolean().default(false).describe('Also list deleted backups'),
});
export type BackupListQuery = z.output<typeof BackupListQuery>;

export const RestoreBody = z.object({
  backup_id: BackupId,
  mode: RestoreMode,
  target_tenant_id: TenantId.optional().describe('Clone only: the new tenant id (default: the restore id)'),
  target_region: z
    .string()
    .min(1)
    .optional()
    .describe("Region to restore into: only the tenant's own region (the default) is accepted; any other answers 409"),
});
export type RestoreBody = z.output<typeof RestoreBody>;

const Verification = z.object({
  id: z.uuid(),
  result: z.enum(['ok', 'mismatch']),
  verified_at: Time,
  mismatches: z.array(TableMismatch),
  detail: z.string().nullable(),
});

const Restore = z.object({
  id: z.uuid(),
  mode: RestoreMode,
  target_tenant_id: TenantId,
  status: z.enum(['running', 'completed', 'failed']),
  progress: z.number().int().min(0).max(100),
  step: z.string().nullable(),
  rows: z.number().int().nullable(),
  duration_ms: z.number().int().nullable(),
  started_at: Time,
  updated_at: Time,
  error: z.string().nullable(),
});

export const BackupItem = z.object({
  id: BackupId,
  tenant_id: TenantId,
  status: z
    .enum(['running', 'completed', 'failed', 'deleted'])
    .describe('Only `completed` is a good backup: its artifact is whole and its manifest recorded'),
  trigger: z.enum(['on-demand', 'scheduled', 'archive']).nullable(),
  plan: z.string().nullable(),
  created_at: Time,
  updated_at: Time,
  completed_at: Time.nullable(),
  duration_ms: z.number().int().nullable(),
  size_bytes: z.number().int().nullable(),
  rows: z.number().int().nullable(),
  snapshot_at: Time.nullable().describe('Every row is as it was at this instant'),
  error: z.string().nullable(),
  deleted_at: Time.nullable(),
  deleted_reason: z.string().nullable(),
  verification: Verification.nullable().describe('The last verification'),
});
export type BackupItem = z.output<typeof BackupItem>;

export const BackupList = z.object({ items: z.array(BackupItem) });

export const BackupDetail = BackupItem.extend({
  object_name: z.string().nullable(),
  manifest: BackupManifest.nullable(),
  verifications: z.array(Verification),
  restores: z.array(Restore),
});
export type BackupDetail = z.output<typeof BackupDetail>;

export const AcceptedOperation = z.object({
  operation_id: z.uuid().describe('Poll `GET /api/operations/{operation_id}` (the `Location`)'),
  backup_id: BackupId,
  restore_id: z.uuid().optional(),
  verification_id: z.uuid().optional(),
  mode: RestoreMode.optional(),
  target_tenant_id: TenantId.optional(),
});
export type AcceptedOperation = z.output<typeof AcceptedOperation>;
