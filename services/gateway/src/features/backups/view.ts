import {
  BackupCompleted,
  BackupDeleted,
  BackupFailed,
  type BackupManifest,
  BackupStarted,
  BackupVerified,
  backupEvents,
  type DataOf,
  RestoreCompleted,
  RestoreFailed,
  RestoreProgressed,
  RestoreStarted,
} from '@ttm/contracts';
import { knownMessage } from '@ttm/service-kit';

export type BackupStatus = 'running' | 'completed' | 'failed' | 'deleted';

export interface VerificationView {
  id: string;
  result: 'ok' | 'mismatch';
  verified_at: string;
  mismatches: DataOf<typeof BackupVerified>['mismatches'];
  detail: string | null;
}

export interface RestoreView {
  id: string;
  mode: 'clone' | 'in-place';
  target_tenant_id: string;
  status: 'running' | 'completed' | 'failed';
  progress: number;
  step: string | null;
  rows: number | null;
  duration_ms: number | null;
  started_at: string;
  updated_at: string;
  error: string | null;
}

/** A backup as the admin API shows it, folded from its events. */
export interface BackupView {
  id: string;
  tenant_id: string;
  status: BackupStatus;
  trigger: 'on-demand' | 'scheduled' | 'archive' | null;
  plan: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  size_bytes: number | null;
  rows: number | null;
  snapshot_at: string | null;
  object_name: string | null;
  error: string | null;
  deleted_at: string | null;
  deleted_reason: string | null;
  /** The last verification. */
  verification: VerificationView | null;
  verifications: VerificationView[];
  restores: RestoreView[];
  manifest: BackupManifest | null;
}

type Stored = { type: string; data: unknown };

/** Fold a backup's events (`evt.backup.<id>`) into its view; undefined if it has none. Pure. */
export function backupViewOf(events: readonly Stored[]): BackupView | undefined {
  let view: BackupView | undefined;
  for (const event of events) view = applyBackupEvent(view, event);
  return view;
}

/** One event onto a view (undefined before the first event). Pure; unknown types leave it as it is. */
export function applyBackupEvent(view: BackupView | undefined, event: Stored): BackupView | undefined {
  const known = knownMessage(event, backupEvents);
  switch (known?.type) {
    case BackupStarted.type: {
      const e = known.data;
      return {
        ...blank(e.backupId, e.tenantId, e.startedAt),
        ...(view ?? {}),
        status: 'running',
        trigger: e.trigger,
        plan: e.plan,
      };
    }
    case BackupFailed.type: {
      const e = known.data;
      const base = view ?? blank(e.backupId, e.tenantId, e.failedAt);
      return { ...base, status: 'failed', error: e.reason, updated_at: e.failedAt };
    }
  }
  if (!view) return undefined;
  switch (known?.type) {
    case BackupCompleted.type: {
      const e = known.data;
      return {
        ...view,
        status: 'completed',
        completed_at: e.completedAt,
        updated_at: e.completedAt,
        duration_ms: e.durationMs,
        size_bytes: e.manifest.totalBytes,
        rows: e.manifest.totalRows,
        snapshot_at: e.manifest.snapshotAt,
        object_name: e.manifest.objectName,
        manifest: e.manifest,
      };
    }
    case BackupVerified.type: {
      const e = known.data;
      const verification: VerificationView = {
        id: e.verificationId,
        result: e.result,
        verified_at: e.verifiedAt,
        mismatches: e.mismatches,
        detail: e.detail ?? null,
      };
      return { ...view, updated_at: e.verifiedAt, verification, verifications: [...view.verifications, verification] };
    }
    case BackupDeleted.type: {
      const e = known.data;
      return { ...view, status: 'deleted', deleted_at: e.deletedAt, deleted_reason: e.reason, updated_at: e.deletedAt };
    }
    case RestoreStarted.type: {
      const e = known.data;
      if (view.restores.some((r) => r.id === e.restoreId)) return view;
      const restore: RestoreView = {
        id: e.restoreId,
        mode: e.mode,
        target_tenant_id: e.targetTenantId,
        status: 'running',
        progress: 0,
        step: null,
        rows: null,
        duration_ms: null,
        started_at: e.startedAt,
        updated_at: e.startedAt,
        error: null,
      };
      return { ...view, updated_at: e.startedAt, restores: [...view.restores, restore] };
    }
    case RestoreProgressed.type: {
      const e = known.data;
      return withRestore(view, e.restoreId, e.at, (r) => ({
        ...r,
        progress: Math.max(r.progress, e.progress),
        step: e.step,
      }));
    }
    case RestoreCompleted.type: {
      const e = known.data;
      return withRestore(view, e.restoreId, e.completedAt, (r) => ({
        ...r,
        status: 'completed',
        progress: 100,
        rows: e.rows,
        duration_ms: e.durationMs,
      }));
    }
    case RestoreFailed.type: {
      const e = known.data;
      const recorded = view.restores.some((r) => r.id === e.restoreId);
      const restores = recorded
        ? view.restores
        : [
            ...view.restores,
            {
              id: e.restoreId,
              mode: e.mode,
              target_tenant_id: e.targetTenantId,
              status: 'failed' as const,
              progress: 0,
              step: null,
              rows: null,
              duration_ms: null,
              started_at: e.failedAt,
              updated_at: e.failedAt,
              error: e.reason,
            },
          ];
      return withRestore({ ...view, restores }, e.restoreId, e.failedAt, (r) => ({
        ...r,
        status: 'failed',
        error: e.reason,
      }));
    }
    default:
      return view;
  }
}

function withRestore(
  view: BackupView,
  restoreId: string,
  at: string,
  change: (r: RestoreView) => RestoreView,
): BackupView {
  return {
    ...view,
    updated_at: at,
    restores: view.restores.map((r) => (r.id === restoreId ? { ...change(r), updated_at: at } : r)),
  };
}

function blank(id: string, tenantId: string, at: string): BackupView {
  return {
    id,
    tenant_id: tenantId,
    status: 'running',
    trigger: null,
    plan: null,
    created_at: at,
    updated_at: at,
    completed_at: null,
    duration_ms: null,
    size_bytes: null,
    rows: null,
    snapshot_at: null,
    object_name: null,
    error: null,
    deleted_at: null,
    deleted_reason: null,
    verification: null,
    verifications: [],
    restores: [],
    manifest: null,
  };
}

/** A backup, restore or verification as a long-running operation (the model of `GET /api/operations/{id}`). */
export interface BackupOperation {
  id: string;
  kind: 'backup' | 'restore' | 'verification';
  tenant_id: string;
  backup_id: string;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  progress: number;
  step: string | null;
  started_at: string;
  updated_at: string;
  result?: Record<string, unknown>;
  error?: string;
}

/**
 * The operation `operationId` names in a backup: the backup itself, one of its restores, or
 * one of its verifications (recorded ones; a requested verification not yet run is unknown). Pure.
 */
export function operationOf(view: BackupView, operationId: string): BackupOperation | undefined {
  const base = { tenant_id: view.tenant_id, backup_id: view.id };
  if (operationId === view.id) {
    const status = view.status === 'running' ? 'running' : view.status === 'failed' ? 'failed' : 'succeeded';
    return {
      id: view.id,
      kind: 'backup',
      ...base,
      status,
      progress: status === 'running' ? 50 : 100,
      step: status === 'running' ? 'snapshot' : null,
      started_at: view.created_at,
      updated_at: view.updated_at,
      ...(view.completed_at
        ? {
            result: { backup_id: view.id, size_bytes: view.size_bytes, rows: view.rows, snapshot_at: view.snapshot_at },
          }
        : {}),
      ...(view.error ? { error: view.error } : {}),
    };
  }
  const restore = view.restores.find((r) => r.id === operationId);
  if (restore) {
    const status = restore.status === 'completed' ? 'succeeded' : restore.status;
    return {
      id: restore.id,
      kind: 'restore',
      ...base,
      status,
      progress: restore.progress,
      step: restore.step,
      started_at: restore.started_at,
      updated_at: restore.updated_at,
      ...(status === 'succeeded'
        ? { result: { mode: restore.mode, target_tenant_id: restore.target_tenant_id, rows: restore.rows } }
        : {}),
      ...(restore.error ? { error: restore.error } : {}),
    };
  }
  const v = view.verifications.find((candidate) => candidate.id === operationId);
  if (v) {
    return {
      id: v.id,
      kind: 'verification',
      ...base,
      status: 'succeeded',
      progress: 100,
      step: null,
      started_at: v.verified_at,
      updated_at: v.verified_at,
      result: { result: v.result, mismatches: v.mismatches, ...(v.detail ? { detail: v.detail } : {}) },
    };
  }
  return undefined;
}
