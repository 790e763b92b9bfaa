import type { BackupManifest } from '@ttm/contracts';
import { DeciderSpecification } from '@ttm/service-kit/testing';
import { describe, expect, it } from 'vitest';
import { type BackupCommand, type BackupEvent, BackupRuleViolation, backupDecider } from './decider.js';

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

/** given events, when command, then the decided events (or the error). */
const given = DeciderSpecification.for(backupDecider);

/** The events these commands decide, carried out in order. */
function carriedOut(...commands: BackupCommand[]): BackupEvent[] {
  const events: BackupEvent[] = [];
  for (const command of commands)
    events.push(
      ...given(...events)
        .when(command)
        .events(),
    );
  return events;
}

/** Given these commands were carried out, the state they leave. */
const after = (...commands: BackupCommand[]) => given(...carriedOut(...commands)).state;

/** `decide` refused with a BackupRuleViolation whose message matches. */
const refusal = (message: RegExp) => (error: BackupRuleViolation) => expect(error.message).toMatch(message);

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
    expect(
      given()
        .when(start)
        .events()
        .map((e) => e.type),
    ).toEqual(['ttm.backup.started.v1']);
    given(...carriedOut(start))
      .when(start)
      .thenNothingHappened();
  });

  it('is good only once completed, and completes once', () => {
    const running = given(...carriedOut(start));
    expect(running.state.status).toBe('running');
    expect(
      running
        .when(complete)
        .events()
        .map((e) => e.type),
    ).toEqual(['ttm.backup.completed.v1']);
    const done = given(...carriedOut(start, complete));
    expect(done.state.status).toBe('completed');
    expect(done.state.manifest).toEqual(manifest);
    done.when(complete).thenNothingHappened();
  });

  it('refuses to complete a failed or deleted backup', () => {
    given(...carriedOut(start, { kind: 'Fail', reason: 'boom', at }))
      .when(complete)
      .thenThrows(BackupRuleViolation);
    given()
      .when(complete)
      .thenThrows(BackupRuleViolation, refusal(/no such backup/));
  });

  it('records a rejected backup as failed', () => {
    const reject: BackupCommand = { kind: 'Reject', backupId, tenantId, reason: 'tenant is not provisioned', at };
    given()
      .when(reject)
      .thenEmits([
        {
          type: 'ttm.backup.failed.v1',
          data: { backupId, tenantId, reason: 'tenant is not provisioned', failedAt: at.toISOString() },
        },
      ]);
    given(...carriedOut(reject))
      .when(start)
      .thenNothingHappened();
  });

  it('fails only a running backup', () => {
    given(...carriedOut(start, complete))
      .when({ kind: 'Fail', reason: 'x', at })
      .thenNothingHappened();
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
    given(...carriedOut(start))
      .when(verify)
      .thenThrows(BackupRuleViolation, refusal(/running cannot be verified/));
    const verified = given(...carriedOut(start, complete, verify));
    expect(verified.state.lastVerification).toEqual({ verificationId: backupId, result: 'ok', at: at.toISOString() });
    verified.when(verify).thenNothingHappened();
    expect(verified.when({ ...verify, verificationId: restoreId }).events()).toHaveLength(1);
  });

  it('deletes a finished backup once, never a running one or one being restored', () => {
    const del: BackupCommand = { kind: 'Delete', reason: 'operator', actor: admin, at };
    given()
      .when(del)
      .thenThrows(BackupRuleViolation, refusal(/no such backup/));
    given(...carriedOut(start))
      .when(del)
      .thenThrows(BackupRuleViolation, refusal(/running cannot be deleted/));
    given(...carriedOut(start, complete, startRestore))
      .when(del)
      .thenThrows(BackupRuleViolation, refusal(/being restored/));
    expect(
      given(...carriedOut(start, complete))
        .when(del)
        .events()
        .map((e) => e.type),
    ).toEqual(['ttm.backup.deleted.v1']);
    given(...carriedOut(start, complete, del))
      .when(del)
      .thenNothingHappened();
    expect(
      given(...carriedOut(start, { kind: 'Fail', reason: 'x', at }))
        .when(del)
        .events()
        .map((e) => e.type),
    ).toEqual(['ttm.backup.deleted.v1']);
  });

  it('restores only a good backup, with progress, once per restore id', () => {
    given(...carriedOut(start))
      .when(startRestore)
      .thenThrows(BackupRuleViolation, refusal(/running cannot be restored/));
    const restoring = given(...carriedOut(start, complete, startRestore));
    expect(restoring.state.restores[restoreId]).toMatchObject({ status: 'running', mode: 'clone' });
    restoring.when(startRestore).thenNothingHappened();
    const progress: BackupCommand = { kind: 'ProgressRestore', restoreId, step: 'load-rows', progress: 80, at };
    expect(restoring.when(progress).events()).toHaveLength(1);
    given(...carriedOut(start, complete, startRestore, progress))
      .when(progress)
      .thenNothingHappened();
    const done: BackupCommand = { kind: 'CompleteRestore', restoreId, rows: 10, durationMs: 9, at };
    const [completed] = restoring.when(done).events();
    expect(completed).toMatchObject({
      type: 'ttm.backup.restore-completed.v1',
      data: { mode: 'clone', targetTenantId: restoreId, targetPlacement: { schema: 'workspace_xyz' }, rows: 10 },
    });
    const finished = given(...carriedOut(start, complete, startRestore, done));
    expect(finished.state.restores[restoreId]?.status).toBe('completed');
    finished.when(done).thenNothingHappened();
    finished.when(progress).thenNothingHappened();
    const fail: BackupCommand = {
      kind: 'FailRestore',
      restoreId,
      mode: 'clone',
      targetTenantId: restoreId,
      reason: 'x',
      at,
    };
    finished.when(fail).thenNothingHappened();
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
    const [event] = given(...carriedOut(start))
      .when(fail)
      .events();
    expect(event).toMatchObject({ type: 'ttm.backup.restore-failed.v1', data: { restoreId: other, mode: 'in-place' } });
    expect(after(start, fail).restores[other]?.status).toBe('failed');
    given(...carriedOut(start))
      .when({ kind: 'ProgressRestore', restoreId: other, step: 'check', progress: 1, at })
      .thenThrows(BackupRuleViolation, refusal(/not one of this backup/));
  });
});
