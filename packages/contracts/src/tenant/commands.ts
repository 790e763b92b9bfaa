import { z } from 'zod';
import { defineCommand } from '../message.js';
import { CommandSubjects } from '../topology.js';
import {
  Actor,
  ArchiveReason,
  Email,
  OperationId,
  OrganizationName,
  Placement,
  PlanName,
  RegionName,
  SealedSecretField,
  TenantId,
} from './fields.js';

export const RegisterOrganization = defineCommand({
  type: 'ttm.tenant.register.v1',
  subject: CommandSubjects.tenantRegister,
  description: 'Register an organization and provision its workspace',
  schema: z.object({
    provisioningId: OperationId,
    tenantId: TenantId,
    organizationName: OrganizationName,
    adminEmail: Email,
    /**
     * argon2id hash of the admin password, sealed under the key-encryption key (TTM_KEK) so
     * whoever reads COMMANDS sees no hash; the tenant id is its additional data, so a sealed
     * hash cannot be replayed into another registration. A plain hash is still read (commands
     * published before sealing). Never copied into EVENTS or AUDIT.
     */
    adminPasswordHash: z.union([SealedSecretField, z.string().startsWith('$argon2id$').max(512)]),
    plan: PlanName,
    region: RegionName,
    requestedAt: z.iso.datetime({ offset: true }),
  }),
});

export const SuspendTenant = defineCommand({
  type: 'ttm.tenant.suspend.v1',
  subject: CommandSubjects.tenantSuspend,
  description: 'Suspend a tenant: its users cannot log in and its tokens stop working',
  schema: z.object({ tenantId: TenantId, reason: z.string().trim().min(1).max(500), actor: Actor }),
});

export const ActivateTenant = defineCommand({
  type: 'ttm.tenant.activate.v1',
  subject: CommandSubjects.tenantActivate,
  description: 'Reactivate a suspended tenant',
  schema: z.object({ tenantId: TenantId, actor: Actor }),
});

export const ChangeTenantPlacement = defineCommand({
  type: 'ttm.tenant.change-placement.v1',
  subject: CommandSubjects.tenantChangePlacement,
  description:
    'Point the tenant at a new placement (sent by a migration once the copy is verified); the tenant decider ' +
    'records it as ttm.tenant.placement-changed.v1 only while the tenant still lives at `from`',
  schema: z.object({ tenantId: TenantId, migrationId: OperationId, from: Placement, to: Placement }),
});

export const RetryProvisioning = defineCommand({
  type: 'ttm.tenant.retry-provisioning.v1',
  subject: CommandSubjects.tenantRetryProvisioning,
  description:
    'Provision a failed tenant again (an operator asks): it resumes at the failed step when the failure undid ' +
    'nothing (a transient error), from the first step when the failure was compensated',
  schema: z.object({ tenantId: TenantId, actor: Actor }),
});

export const UpgradeTenantSchema = defineCommand({
  type: 'ttm.tenant.upgrade-schema.v1',
  subject: CommandSubjects.tenantUpgradeSchema,
  description:
    'Move the tenant workspace to another schema version (a fleet upgrade, or its rollback when `to` is lower) in one ' +
    'data-plane transaction; the tenant decider records ttm.tenant.schema-upgraded.v1 once per upgradeId and version',
  schema: z.object({
    tenantId: TenantId,
    upgradeId: OperationId,
    to: z.number().int().positive(),
  }),
});

export const ArchiveTenant = defineCommand({
  type: 'ttm.tenant.archive.v1',
  subject: CommandSubjects.tenantArchive,
  description:
    'Record that an active tenant is archived (sent by the archive saga once its backup `backupId` is verified, ' +
    'before the workspace is dropped); the tenant decider records ttm.tenant.archived.v1 once per archiveId',
  schema: z.object({
    tenantId: TenantId,
    archiveId: OperationId,
    backupId: z.uuid(),
    reason: ArchiveReason,
    actor: Actor,
  }),
});

export const UnarchiveTenant = defineCommand({
  type: 'ttm.tenant.unarchive.v1',
  subject: CommandSubjects.tenantUnarchive,
  description:
    'Record that an archived tenant is back (sent by the restore that reloaded its workspace from `backupId`); ' +
    'the tenant decider records ttm.tenant.unarchived.v1 once per restoreId',
  schema: z.object({ tenantId: TenantId, restoreId: OperationId, backupId: z.uuid() }),
});

export const tenantCommands = [
  RegisterOrganization,
  SuspendTenant,
  ActivateTenant,
  ChangeTenantPlacement,
  RetryProvisioning,
  UpgradeTenantSchema,
  ArchiveTenant,
  UnarchiveTenant,
] as const;
