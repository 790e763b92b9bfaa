import { z } from 'zod';
import { defineCommand } from '../message.js';
import { Actor, ArchiveReason, TenantId, Timestamp } from '../tenant/fields.js';
import { CommandSubjects } from '../topology.js';
import { BackupId, BackupTrigger, RestoreId, RestoreMode, VerificationId } from './fields.js';

export const CreateBackup = defineCommand({
  type: 'ttm.backup.create.v1',
  subject: CommandSubjects.backupCreate,
  description: 'Back up a tenant: its workspace schema and its core rows, at one instant',
  schema: z.object({
    backupId: BackupId,
    tenantId: TenantId,
    trigger: BackupTrigger,
    actor: Actor,
    requestedAt: Timestamp,
  }),
});

export const DeleteBackup = defineCommand({
  type: 'ttm.backup.delete.v1',
  subject: CommandSubjects.backupDelete,
  description: 'Delete a backup: it is no longer listed, and its artifact is removed from the store',
  schema: z.object({ backupId: BackupId, actor: Actor, reason: z.string().trim().min(1).max(500).optional() }),
});

export const VerifyBackup = defineCommand({
  type: 'ttm.backup.verify.v1',
  subject: CommandSubjects.backupVerify,
  description: 'Restore a backup into a scratch schema and compare its counts and checksums with the manifest',
  schema: z.object({ backupId: BackupId, verificationId: VerificationId, actor: Actor }),
});

export const RestoreBackup = defineCommand({
  type: 'ttm.backup.restore.v1',
  subject: CommandSubjects.backupRestore,
  description: 'Restore a backup into a new tenant schema (clone) or over the own data of the tenant (in place)',
  schema: z.object({
    backupId: BackupId,
    restoreId: RestoreId,
    mode: RestoreMode,
    /** Clone only: the new tenant id (default: the restore id). In place always restores the tenant of the backup. */
    targetTenantId: TenantId.optional(),
    /**
     * Where the rows may go: only the region the tenant is in now (the default). A backup taken
     * before the tenant was moved restores into its new region; any other region is refused.
     */
    targetRegion: z.string().min(1).optional(),
    actor: Actor,
    requestedAt: Timestamp,
  }),
});

export const ArchiveTenantWorkspace = defineCommand({
  type: 'ttm.backup.archive-tenant.v1',
  subject: CommandSubjects.backupArchive,
  description:
    'Archive a tenant: freeze its writes, back it up and verify the backup (backup id = archiveId, the ' +
    'operation to follow), have the tenant recorded archived, then drop its workspace schema and mark it INACTIVE',
  schema: z.object({
    archiveId: BackupId,
    tenantId: TenantId,
    reason: ArchiveReason,
    actor: Actor,
    requestedAt: Timestamp,
  }),
});

export const backupCommands = [
  CreateBackup,
  DeleteBackup,
  VerifyBackup,
  RestoreBackup,
  ArchiveTenantWorkspace,
] as const;
