import type { z } from 'zod';
import type { MessageDefinition } from '../message.js';
import { sampleOperator as admin, samplePlacement as placement, sampleTenantId as tenantId } from '../sampleValues.js';
import { ArchiveTenantWorkspace, CreateBackup, DeleteBackup, RestoreBackup, VerifyBackup } from './commands.js';
import {
  BackupCompleted,
  BackupDeleted,
  BackupFailed,
  BackupStarted,
  BackupVerified,
  RestoreCompleted,
  RestoreFailed,
  RestoreProgressed,
  RestoreStarted,
} from './events.js';

/** One valid payload per backup message type; `samples.ts` adds them to `sampleData`. */
export const backupSamples: (readonly [MessageDefinition, unknown])[] = [];
function sample<D extends MessageDefinition>(def: D, data: z.input<D['schema']>): void {
  backupSamples.push([def, data]);
}

const backupId = '7e1d2c3b-4a59-4f68-8a7b-9c0d1e2f3a4b';
const restoreId = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
const cloneId = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d';
const clonePlacement = { ...placement, schema: 'workspace_9z8y7x6w5v4u3t2s1r0q' };
const objectName = `${tenantId}/${backupId}/m7x2k9qa.ttmb.gz`;

sample(CreateBackup, {
  backupId,
  tenantId,
  trigger: 'on-demand',
  actor: admin,
  requestedAt: '2025-03-01T02:00:00.000Z',
});
sample(DeleteBackup, { backupId, actor: admin, reason: 'Customer asked to erase old copies' });
sample(VerifyBackup, { backupId, verificationId: backupId, actor: { kind: 'system', id: 'backup' } });
sample(RestoreBackup, {
  backupId,
  restoreId,
  mode: 'clone',
  targetTenantId: cloneId,
  actor: admin,
  requestedAt: '2025-03-02T09:00:00.000Z',
});

sample(ArchiveTenantWorkspace, {
  archiveId: backupId,
  tenantId,
  reason: 'operator',
  actor: admin,
  requestedAt: '2025-03-02T09:00:00.000Z',
});

sample(BackupStarted, {
  backupId,
  tenantId,
  trigger: 'on-demand',
  actor: admin,
  plan: 'pro',
  placement,
  startedAt: '2025-03-01T02:00:00.050Z',
});
sample(BackupCompleted, {
  backupId,
  tenantId,
  manifest: {
    format: 'ttm-backup/1',
    tenantId,
    placement,
    schemaVersion: 1,
    tables: [
      { scope: 'workspace', name: 'company', rows: 120, sha256: 'a'.repeat(64) },
      { scope: 'core', name: 'workspace', rows: 1, sha256: 'b'.repeat(64) },
    ],
    totalRows: 121,
    totalBytes: 18_432,
    uncompressedBytes: 96_210,
    objectName,
    store: 'nats',
    snapshotAt: '2025-03-01T02:00:00.061Z',
  },
  durationMs: 412,
  completedAt: '2025-03-01T02:00:00.462Z',
});
sample(BackupFailed, {
  backupId,
  tenantId,
  reason: 'cluster eu-west-1 refused connections after 3 attempts',
  failedAt: '2025-03-01T02:00:31.000Z',
});
sample(BackupVerified, {
  backupId,
  tenantId,
  verificationId: backupId,
  result: 'mismatch',
  mismatches: [
    {
      scope: 'workspace',
      name: 'company',
      expected: { rows: 120, sha256: 'a'.repeat(64) },
      actual: { rows: 119, sha256: 'c'.repeat(64) },
    },
  ],
  durationMs: 230,
  verifiedAt: '2025-03-01T02:00:00.700Z',
});
sample(BackupDeleted, {
  backupId,
  tenantId,
  reason: 'retention',
  actor: { kind: 'system', id: 'backup' },
  detail: 'plan pro keeps the last 7, 7 daily and 4 weekly backups',
  deletedAt: '2025-03-09T02:00:01.000Z',
});
sample(RestoreStarted, {
  backupId,
  restoreId,
  tenantId,
  mode: 'clone',
  targetTenantId: cloneId,
  targetPlacement: clonePlacement,
  actor: admin,
  startedAt: '2025-03-02T09:00:00.030Z',
});
sample(RestoreProgressed, { backupId, restoreId, step: 'load-rows', progress: 80, at: '2025-03-02T09:00:00.600Z' });
sample(RestoreCompleted, {
  backupId,
  restoreId,
  tenantId,
  mode: 'clone',
  targetTenantId: cloneId,
  targetPlacement: clonePlacement,
  rows: 121,
  durationMs: 820,
  completedAt: '2025-03-02T09:00:00.850Z',
});
sample(RestoreFailed, {
  backupId,
  restoreId,
  tenantId,
  mode: 'in-place',
  targetTenantId: tenantId,
  reason: 'the backup has workspace schema version 2; this build restores version 1',
  failedAt: '2025-03-02T09:00:00.200Z',
});
