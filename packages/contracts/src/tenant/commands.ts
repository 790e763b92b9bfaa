import { z } from 'zod';
import { defineCommand } from '../message.js';
import { CommandSubjects } from '../topology.js';
import {
  Actor,
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

export const tenantCommands = [
  RegisterOrganization,
  SuspendTenant,
  ActivateTenant,
  ChangeTenantPlacement,
  RetryProvisioning,
  UpgradeTenantSchema,
] as const;
