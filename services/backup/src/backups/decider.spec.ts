import type { BackupManifest } from '@ttm/contracts';
import { describe, expect, it } from 'vitest';
import { type BackupCommand, BackupRuleViolation, type BackupState, backupStateOf, decide, evolve } from './decider.js';

const backupId = '7e1d2c3b-4a59-4f68-8a7b-9c0d1e2f3a4b';
const tenantId = '0b7c4a52-6f1e-4c1a-9d3e-2f5a8b9c0d1e';
const restoreId = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
const at = new Date('2025-03-01T02:00:00.000Z');
const admin = { kind: 'admin', id: 'ops' } as const;
const placement = {
  region: 'us-east-1',
  cluster: 'use1-a',
  kind: 'schema',
  database: 'dp',
  schema: 'workspace_abc',
} as const;
const manifest: BackupManifest = {
  format: 'ttm-backup/1',
  tenantId,
  placement,
  schemaVersion: 1,
  tables: [],
  totalRows: 0,
  totalBytes: 10,
  uncompressedBytes: 20,
  objectName: `${tenantId}/${backupId}/a.ttmb.gz`,
  store: 'nats',
  snapshotAt: at.toISOString(),
};

const start: BackupCommand = {
  kind: 'Start',
  data: { backupId, tenantId, trigger: 'on-demand', actor: admin, plan: 'pro', placement },
  at,
};

/** Given these commands were carried out, the state they leave. */
function given(...commands: BackupCommand[]): BackupState {
  return commands.reduce((state, command) => decide(command, state).reduce(evolve, state), backupStateOf([]));
}

const complete: BackupCommand = { kind: 'Complete', manifest, durationMs: 5, at };
const startRestore: BackupCommand = {
  kind: 'StartRestore',
  restoreId,
  mode: 'clone',
  targetTenantId: restoreId,
  targetPlacement: { ...placement, schema: 'workspace_xyz' },
  actor: admin,
  at,
};

describe('backup decider', () => {
  it('starts once: a redelivered create decides nothing', () => {
    expect(decide(start, given()).map((e) => e.type)).toEqual(['ttm.backup.started.v1']);
    expect(decide(start, given(start))).toEqual([]);
  });

  it('is good only once completed, and completes once', () => {
    const running = given(start);
    expect(running.status).toBe('running');
    expect(decide(complete, running).map((e) => e.type)).toEqual(['ttm.backup.completed.v1']);
    const done = given(start, complete);
    expect(done.status).toBe('completed');
    expect(done.manifest).toEqual(manifest);
    expect(decide(complete, done)).toEqual([]);
  });

  it('refuses to complete a failed or deleted backup', () => {
    const failed = given(start, { kind: 'Fail', reason: 'boom', at });
    expect(() => decide(complete, failed)).toThrow(BackupRuleViolation);
    expect(() => decide(complete, given())).toThrow(/no such backup/);
  });

  it('records a rejected backup as failed', () => {
    const events = decide({ kind: 'Reject', backupId, tenantId, reason: 'tenant is not provisioned', at }, given());
    expect(events).toEqual([
      {
        type: 'ttm.backup.failed.v1',
        data: { backupId, tenantId, reason: 'tenant is not provisioned', failedAt: at.toISOString() },
      },
    ]);
    expect(decide(start, events.reduce(evolve, given()))).toEqual([]);
  });

  it('fails only a running backup', () => {
    expect(decide({ kind: 'Fail', reason: 'x', at }, given(start, complete))).toEqual([]);
  });

  it('verifies only a good backup, once per verification id', () => {
    const verify: BackupCommand = {
      kind: 'RecordVerification',
      verificationId: backupId,
      result: 'ok',
      mismatches: [],
      durationMs: 3,
      at,
    };
    expect(() => decide(verify, given(start))).toThrow(/running cannot be verified/);
    const verified = given(start, complete, verify);
    expect(verified.lastVerification).toEqual({ verificationId: backupId, result: 'ok', at: at.toISOString() });
    expect(decide(verify, verified)).toEqual([]);
    expect(decide({ ...verify, verificationId: restoreId }, verified)).toHaveLength(1);
  });

  it('deletes a finished backup once, never a running one or one being restored', () => {
    const del: BackupCommand = { kind: 'Delete', reason: 'operator', actor: admin, at };
    expect(() => decide(del, given())).toThrow(/no such backup/);
    expect(() => decide(del, given(start))).toThrow(/running cannot be deleted/);
    expect(() => decide(del, given(start, complete, startRestore))).toThrow(/being restored/);
    expect(decide(del, given(start, complete)).map((e) => e.type)).toEqual(['ttm.backup.deleted.v1']);
    expect(decide(del, given(start, complete, del))).toEqual([]);
    expect(decide(del, given(start, { kind: 'Fail', reason: 'x', at })).map((e) => e.type)).toEqual([
      'ttm.backup.deleted.v1',
    ]);
  });

  it('restores only a good backup, with progress, once per restore id', () => {
    expect(() => decide(startRestore, given(start))).toThrow(/running cannot be restored/);
    const restoring = given(start, complete, startRestore);
    expect(restoring.restores[restoreId]).toMatchObject({ status: 'running', mode: 'clone' });
    expect(decide(startRestore, restoring)).toEqual([]);
    const progress: BackupCommand = { kind: 'ProgressRestore', restoreId, step: 'load-rows', progress: 80, at };
    expect(decide(progress, restoring)).toHaveLength(1);
    expect(decide(progress, given(start, complete, startRestore, progress))).toEqual([]);
    const done: BackupCommand = { kind: 'CompleteRestore', restoreId, rows: 10, durationMs: 9, at };
    const [completed] = decide(done, restoring);
    expect(completed).toMatchObject({
      type: 'ttm.backup.restore-completed.v1',
      data: { mode: 'clone', targetTenantId: restoreId, targetPlacement: { schema: 'workspace_xyz' }, rows: 10 },
    });
    const finished = given(start, complete, startRestore, done);
    expect(finished.restores[restoreId]?.status).toBe('completed');
    expect(decide(done, finished)).toEqual([]);
    expect(decide(progress, finished)).toEqual([]);
    const fail: BackupCommand = {
      kind: 'FailRestore',
      restoreId,
      mode: 'clone',
      targetTenantId: restoreId,
      reason: 'x',
      at,
    };
    expect(decide(fail, finished)).toEqual([]);
  });

  it('records a refused restore as failed', () => {
    const other = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d';
    const fail: BackupCommand = {
      kind: 'FailRestore',
      restoreId: other,
      mode: 'in-place',
      targetTenantId: tenantId,
      reason: 'the backup is running',
      at,
    };
    const [event] = decide(fail, given(start));
    expect(event).toMatchObject({ type: 'ttm.backup.restore-failed.v1', data: { restoreId: other, mode: 'in-place' } });
    expect(given(start, fail).restores[other]?.status).toBe('failed');
    expect(() =>
      decide({ kind: 'ProgressRestore', restoreId: other, step: 'check', progress: 1, at }, given(start)),
    ).toThrow(/not one of this backup/);
  });
});
