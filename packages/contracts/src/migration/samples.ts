import type { z } from 'zod';
import type { MessageDefinition } from '../message.js';
import { sampleOperator as admin, sampleTenantId as tenantId } from '../sampleValues.js';
import { MigrateTenant } from './commands.js';
import {
  MigrationCompleted,
  MigrationFailed,
  MigrationSourceRemoved,
  MigrationStarted,
  MigrationStepCompleted,
} from './events.js';

/** One valid payload per migration message type; `samples.ts` adds them to `sampleData`. */
export const migrationSamples: (readonly [MessageDefinition, unknown])[] = [];
function sample<D extends MessageDefinition>(def: D, data: z.input<D['schema']>): void {
  migrationSamples.push([def, data]);
}

const migrationId = '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d';
const source = {
  region: 'us-east-1',
  cluster: 'use1-a',
  kind: 'schema',
  database: 'ttm_dp_use1_a',
  schema: 'workspace_1a2b3c4d5e6f7g8h9i0j',
} as const;
const target = { ...source, region: 'eu-west-1', cluster: 'euw1-a', database: 'ttm_dp_euw1_a' };
const sha = 'd'.repeat(64);

sample(MigrateTenant, { migrationId, tenantId, source, target, actor: admin, requestedAt: '2025-04-01T08:00:00.000Z' });
sample(MigrationStarted, {
  migrationId,
  tenantId,
  source,
  target,
  actor: admin,
  startedAt: '2025-04-01T08:00:00.040Z',
});
sample(MigrationStepCompleted, {
  migrationId,
  tenantId,
  step: 'verify',
  progress: 70,
  tables: [{ scope: 'workspace', name: 'company', rows: 120, sha256: sha }],
  at: '2025-04-01T08:00:01.200Z',
});
sample(MigrationCompleted, {
  migrationId,
  tenantId,
  source,
  target,
  rows: 121,
  freezeMs: 1180,
  durationMs: 1330,
  sourceRemovalDueAt: '2025-04-02T08:00:01.370Z',
  completedAt: '2025-04-01T08:00:01.370Z',
});
sample(MigrationSourceRemoved, { migrationId, tenantId, source, removedAt: '2025-04-02T08:00:05.000Z' });
sample(MigrationFailed, {
  migrationId,
  tenantId,
  step: 'verify',
  reason: 'the target differs from the source in 1 table: workspace.company',
  mismatches: [
    { scope: 'workspace', name: 'company', rows: 120, sha256: sha, target: { rows: 119, sha256: 'e'.repeat(64) } },
  ],
  failedAt: '2025-04-01T08:00:01.250Z',
});
