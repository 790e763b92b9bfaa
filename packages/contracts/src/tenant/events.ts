import { z } from 'zod';
import { defineEvent } from '../message.js';
import {
  Actor,
  ArchiveReason,
  Email,
  OperationId,
  OrganizationName,
  Placement,
  PlanName,
  ProvisioningStep,
  RegionName,
  Slug,
  TenantId,
  Timestamp,
} from './fields.js';

const aggregate = 'tenant';

export const TenantRegistered = defineEvent({
  type: 'ttm.tenant.registered.v1',
  aggregate,
  description: 'An organization registered; provisioning has started',
  schema: z.object({
    tenantId: TenantId,
    provisioningId: OperationId,
    organizationName: OrganizationName,
    adminEmail: Email,
    plan: PlanName,
    region: RegionName,
    registeredAt: Timestamp,
  }),
});

export const ProvisioningStepCompleted = defineEvent({
  type: 'ttm.tenant.provisioning-step-completed.v1',
  aggregate,
  description: 'One provisioning step finished; progress is 0-100',
  schema: z.object({
    tenantId: TenantId,
    provisioningId: OperationId,
    step: ProvisioningStep,
    progress: z.number().int().min(0).max(100),
    slug: Slug.optional(),
    placement: Placement.optional(),
    completedAt: Timestamp,
  }),
});

export const TenantProvisioned = defineEvent({
  type: 'ttm.tenant.provisioned.v1',
  aggregate,
  description: 'The workspace exists and the tenant is active',
  schema: z.object({
    tenantId: TenantId,
    provisioningId: OperationId,
    slug: Slug,
    placement: Placement,
    durationMs: z.number().int().nonnegative(),
    provisionedAt: Timestamp,
  }),
});

export const ProvisioningFailed = defineEvent({
  type: 'ttm.tenant.provisioning-failed.v1',
  aggregate,
  description:
    'Provisioning gave up after its retries. What it created was removed, unless `resumable`: then a transient ' +
    'error (no connection, server restarting) outlasted the retries, nothing was undone, and a retry resumes at `step`',
  schema: z.object({
    tenantId: TenantId,
    provisioningId: OperationId,
    step: ProvisioningStep,
    reason: z.string().min(1).max(2000),
    /** Nothing was undone: `ttm.tenant.retry-provisioning.v1` resumes at `step`. Absent: compensated. */
    resumable: z.boolean().optional(),
    failedAt: Timestamp,
  }),
});

export const ProvisioningRetried = defineEvent({
  type: 'ttm.tenant.provisioning-retried.v1',
  aggregate,
  description:
    'An operator retried a failed provisioning: the tenant is provisioning again, from `resumeAt` (the failed ' +
    'step when nothing was undone, else the first step)',
  schema: z.object({
    tenantId: TenantId,
    provisioningId: OperationId,
    resumeAt: ProvisioningStep,
    actor: Actor,
    retriedAt: Timestamp,
  }),
});

export const TenantSuspended = defineEvent({
  type: 'ttm.tenant.suspended.v1',
  aggregate,
  description: 'The tenant was suspended',
  schema: z.object({ tenantId: TenantId, reason: z.string().min(1).max(500), actor: Actor, suspendedAt: Timestamp }),
});

export const TenantActivated = defineEvent({
  type: 'ttm.tenant.activated.v1',
  aggregate,
  description: 'A suspended tenant was reactivated',
  schema: z.object({ tenantId: TenantId, actor: Actor, activatedAt: Timestamp }),
});

export const TenantPlacementChanged = defineEvent({
  type: 'ttm.tenant.placement-changed.v1',
  aggregate,
  description:
    'A migration moved the tenant workspace: from now on it lives at `to` (every tenant projection follows it)',
  schema: z.object({
    tenantId: TenantId,
    migrationId: OperationId,
    from: Placement,
    to: Placement,
    changedAt: Timestamp,
  }),
});

export const TenantSchemaUpgraded = defineEvent({
  type: 'ttm.tenant.schema-upgraded.v1',
  aggregate,
  description:
    'The tenant workspace is at schema version `to` (from `from`): committed on the data plane before this event; ' +
    '`to` lower than `from` is a rollback',
  schema: z.object({
    tenantId: TenantId,
    upgradeId: OperationId,
    from: z.number().int().positive(),
    to: z.number().int().positive(),
    /** How long the workspace's tables were locked by the change (0 when it was already there). */
    lockHeldMs: z.number().nonnegative(),
    upgradedAt: Timestamp,
  }),
});

export const TenantArchived = defineEvent({
  type: 'ttm.tenant.archived.v1',
  aggregate,
  description:
    'The tenant is archived: its verified backup `backupId` holds its data, its workspace schema is dropped (or ' +
    'about to be) and its workspace INACTIVE; its next sign-in (or an operator) restores it',
  schema: z.object({
    tenantId: TenantId,
    archiveId: OperationId,
    backupId: z.uuid(),
    reason: ArchiveReason,
    actor: Actor,
    archivedAt: Timestamp,
  }),
});

export const TenantUnarchived = defineEvent({
  type: 'ttm.tenant.unarchived.v1',
  aggregate,
  description: 'An archived tenant is active again: restore `restoreId` reloaded its workspace from `backupId`',
  schema: z.object({ tenantId: TenantId, restoreId: OperationId, backupId: z.uuid(), unarchivedAt: Timestamp }),
});

export const tenantEvents = [
  TenantRegistered,
  ProvisioningStepCompleted,
  TenantProvisioned,
  ProvisioningFailed,
  ProvisioningRetried,
  TenantSuspended,
  TenantActivated,
  TenantPlacementChanged,
  TenantSchemaUpgraded,
  TenantArchived,
  TenantUnarchived,
] as const;

/**
 * The tenant events by name, for the read models that fold or project them
 * (`on(TenantEvents.registered, …)`, `case TenantEvents.provisioned.type:`), so that none of them
 * lists the definitions one by one.
 */
export const TenantEvents = {
  registered: TenantRegistered,
  provisioningStepCompleted: ProvisioningStepCompleted,
  provisioned: TenantProvisioned,
  provisioningFailed: ProvisioningFailed,
  provisioningRetried: ProvisioningRetried,
  suspended: TenantSuspended,
  activated: TenantActivated,
  placementChanged: TenantPlacementChanged,
  schemaUpgraded: TenantSchemaUpgraded,
  archived: TenantArchived,
  unarchived: TenantUnarchived,
} as const;
