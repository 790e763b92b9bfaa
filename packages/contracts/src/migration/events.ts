import { z } from 'zod';
import { defineEvent } from '../message.js';
import { Actor, Placement, TenantId, Timestamp } from '../tenant/fields.js';
import { MigrationId, MigrationStep, MigrationTableCheck } from './fields.js';

const aggregate = 'migration';
const Reason = z.string().min(1).max(2000);

export const MigrationStarted = defineEvent({
  type: 'ttm.migration.started.v1',
  aggregate,
  description: 'A tenant migration started; the tenant still lives at `source` until ttm.tenant.placement-changed.v1',
  schema: z.object({
    migrationId: MigrationId,
    tenantId: TenantId,
    source: Placement,
    target: Placement,
    actor: Actor,
    startedAt: Timestamp,
  }),
});

export const MigrationStepCompleted = defineEvent({
  type: 'ttm.migration.step-completed.v1',
  aggregate,
  description: 'One migration step finished; progress is 0-100',
  schema: z.object({
    migrationId: MigrationId,
    tenantId: TenantId,
    step: MigrationStep,
    progress: z.number().int().min(0).max(100),
    /** copy: rows copied. */
    rows: z.number().int().nonnegative().optional(),
    /** verify: every table compared (all equal, or the step would have failed). */
    tables: z.array(MigrationTableCheck).optional(),
    at: Timestamp,
  }),
});

export const MigrationCompleted = defineEvent({
  type: 'ttm.migration.completed.v1',
  aggregate,
  description:
    'The tenant lives at `target` and takes writes again; the source is removed once `sourceRemovalDueAt` has passed',
  schema: z.object({
    migrationId: MigrationId,
    tenantId: TenantId,
    source: Placement,
    target: Placement,
    rows: z.number().int().nonnegative(),
    /** How long the tenant writes were refused (freeze to unfreeze). */
    freezeMs: z.number().int().nonnegative(),
    durationMs: z.number().int().nonnegative(),
    sourceRemovalDueAt: Timestamp,
    completedAt: Timestamp,
  }),
});

export const MigrationSourceRemoved = defineEvent({
  type: 'ttm.migration.source-removed.v1',
  aggregate,
  description: 'The grace period is over: the tenant schema and core rows at the source are gone',
  schema: z.object({ migrationId: MigrationId, tenantId: TenantId, source: Placement, removedAt: Timestamp }),
});

export const MigrationFailed = defineEvent({
  type: 'ttm.migration.failed.v1',
  aggregate,
  description:
    'A migration gave up: the partial target is dropped, the tenant stays at the source and takes writes again',
  schema: z.object({
    migrationId: MigrationId,
    tenantId: TenantId,
    step: MigrationStep,
    reason: Reason,
    /** verify: the tables whose count or checksum differs. */
    mismatches: z.array(MigrationTableCheck).optional(),
    failedAt: Timestamp,
  }),
});

export const migrationEvents = [
  MigrationStarted,
  MigrationStepCompleted,
  MigrationCompleted,
  MigrationSourceRemoved,
  MigrationFailed,
] as const;
