import { z } from 'zod';
import { defineCommand } from '../message.js';
import { Actor, Placement, TenantId, Timestamp } from '../tenant/fields.js';
import { CommandSubjects } from '../topology.js';
import { MigrationId } from './fields.js';

export const MigrateTenant = defineCommand({
  type: 'ttm.migration.start.v1',
  subject: CommandSubjects.migrationStart,
  description:
    'Move a tenant to another region or cluster: freeze its writes, copy, verify, switch its placement, unfreeze, and remove the source after a grace period',
  schema: z.object({
    migrationId: MigrationId,
    tenantId: TenantId,
    /** Where the tenant lives now, as the gateway saw it; the backup service checks it against the tenant events. */
    source: Placement,
    /** Where it goes: region, cluster and database; the schema name stays the tenant's. */
    target: Placement,
    actor: Actor,
    requestedAt: Timestamp,
  }),
});

export const migrationCommands = [MigrateTenant] as const;
