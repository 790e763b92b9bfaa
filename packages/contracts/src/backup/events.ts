import { z } from 'zod';
import { defineEvent } from '../message.js';
import { Actor, Placement, PlanName, TenantId, Timestamp } from '../tenant/fields.js';
import {
  BackupId,
  BackupManifest,
  BackupTrigger,
  RestoreId,
  RestoreMode,
  RestoreStep,
  TableMismatch,
  VerificationId,
} from './fields.js';

const aggregate = 'backup';
const Reason = z.string().min(1).max(2000);

export const BackupStarted = defineEvent({
  type: 'ttm.backup.started.v1',
  aggregate,
  description: 'A backup started; it is not good until ttm.backup.completed.v1',
  schema: z.object({
    backupId: BackupId,
    tenantId: TenantId,
    trigger: BackupTrigger,
    actor: Actor,
    plan: PlanName,
    placement: Placement,
    startedAt: Timestamp,
  }),
});

export const BackupCompleted = defineEvent({
  type: 'ttm.backup.completed.v1',
  aggregate,
  description: 'The artifact is stored and the backup is good: its manifest says what it holds',
  schema: z.object({
    backupId: BackupId,
    tenantId: TenantId,
    manifest: BackupManifest,
    durationMs: z.number().int().nonnegative(),
    completedAt: Timestamp,
  }),
});

export const BackupFailed = defineEvent({
  type: 'ttm.backup.failed.v1',
  aggregate,
  description: 'A backup gave up; whatever it stored is removed',
  schema: z.object({ backupId: BackupId, tenantId: TenantId, reason: Reason, failedAt: Timestamp }),
});

export const BackupVerified = defineEvent({
  type: 'ttm.backup.verified.v1',
  aggregate,
  description: 'A backup was restored into a scratch schema and compared with its manifest',
  schema: z.object({
    backupId: BackupId,
    tenantId: TenantId,
    verificationId: VerificationId,
    result: z.enum(['ok', 'mismatch']),
    /** The tables whose count or checksum differs (empty when ok). */
    mismatches: z.array(TableMismatch),
    /** Why the artifact could not be read at all (missing, corrupt), if so. */
    detail: z.string().max(2000).optional(),
    durationMs: z.number().int().nonnegative(),
    verifiedAt: Timestamp,
  }),
});

export const BackupDeleted = defineEvent({
  type: 'ttm.backup.deleted.v1',
  aggregate,
  description: 'A backup was deleted (by an operator or by the retention of its plan); its artifact goes with it',
  schema: z.object({
    backupId: BackupId,
    tenantId: TenantId,
    reason: z.enum(['operator', 'retention', 'failed']),
    actor: Actor,
    detail: z.string().max(500).optional(),
    deletedAt: Timestamp,
  }),
});

const restoreBase = {
  backupId: BackupId,
  restoreId: RestoreId,
  tenantId: TenantId,
  mode: RestoreMode,
  targetTenantId: TenantId,
};

export const RestoreStarted = defineEvent({
  type: 'ttm.backup.restore-started.v1',
  aggregate,
  description:
    'A restore started. In place, the data of the tenant is being replaced: refuse its writes until the restore completes or fails',
  schema: z.object({ ...restoreBase, targetPlacement: Placement, actor: Actor, startedAt: Timestamp }),
});

export const RestoreProgressed = defineEvent({
  type: 'ttm.backup.restore-progressed.v1',
  aggregate,
  description: 'One restore step finished; progress is 0-100',
  schema: z.object({
    backupId: BackupId,
    restoreId: RestoreId,
    step: RestoreStep,
    progress: z.number().int().min(0).max(100),
    at: Timestamp,
  }),
});

export const RestoreCompleted = defineEvent({
  type: 'ttm.backup.restore-completed.v1',
  aggregate,
  description: 'The restore is done and its tables match the checksums of the manifest',
  schema: z.object({
    ...restoreBase,
    targetPlacement: Placement,
    rows: z.number().int().nonnegative(),
    durationMs: z.number().int().nonnegative(),
    completedAt: Timestamp,
  }),
});

export const RestoreFailed = defineEvent({
  type: 'ttm.backup.restore-failed.v1',
  aggregate,
  description: 'A restore gave up; in place, the data of the tenant is as it was before (one transaction)',
  schema: z.object({ ...restoreBase, reason: Reason, failedAt: Timestamp }),
});

export const backupEvents = [
  BackupStarted,
  BackupCompleted,
  BackupFailed,
  BackupVerified,
  BackupDeleted,
  RestoreStarted,
  RestoreProgressed,
  RestoreCompleted,
  RestoreFailed,
] as const;
