import {
  MigrationCompleted,
  MigrationFailed,
  MigrationSourceRemoved,
  MigrationStarted,
  MigrationStepCompleted,
  type Placement,
} from '@ttm/contracts';
import { knownMessage } from '@ttm/service-kit';

/** A migration as `/api/operations/{id}` shows it (kind `migration`), folded from its events. */
export interface MigrationOperation {
  id: string;
  kind: 'migration';
  tenant_id: string;
  status: 'running' | 'succeeded' | 'failed';
  progress: number;
  step: string | null;
  started_at: string;
  updated_at: string;
  result?: {
    source: Placement;
    target: Placement;
    rows: number;
    /** How long the tenant writes were refused. */
    freeze_ms: number;
    duration_ms: number;
    source_removal_due_at: string;
    source_removed_at: string | null;
  };
  error?: string;
  /** Where from and where to (also before it ends). */
  source: Placement | null;
  target: Placement | null;
}

type Stored = { type: string; data: unknown };

/** A migration just seen for the first time: running, at `at`, nothing done yet. */
function started(
  id: string,
  tenantId: string,
  at: string,
  source: Placement | null,
  target: Placement | null,
): MigrationOperation {
  return {
    id,
    kind: 'migration',
    tenant_id: tenantId,
    status: 'running',
    progress: 0,
    step: null,
    started_at: at,
    updated_at: at,
    source,
    target,
  };
}

/** One migration event onto its view (undefined before the first). Pure; unknown types change nothing. */
export function applyMigrationEvent(
  view: MigrationOperation | undefined,
  event: Stored,
): MigrationOperation | undefined {
  const known = knownMessage(event, [
    MigrationStarted,
    MigrationFailed,
    MigrationStepCompleted,
    MigrationCompleted,
    MigrationSourceRemoved,
  ]);
  switch (known?.type) {
    case MigrationStarted.type: {
      const e = known.data;
      if (view) return view;
      return started(e.migrationId, e.tenantId, e.startedAt, e.source, e.target);
    }
    case MigrationFailed.type: {
      const e = known.data;
      const base = view ?? started(e.migrationId, e.tenantId, e.failedAt, null, null);
      return { ...base, status: 'failed', step: e.step, error: e.reason, updated_at: e.failedAt };
    }
  }
  if (!view) return undefined;
  switch (known?.type) {
    case MigrationStepCompleted.type: {
      const e = known.data;
      return { ...view, progress: Math.max(view.progress, e.progress), step: e.step, updated_at: e.at };
    }
    case MigrationCompleted.type: {
      const e = known.data;
      return {
        ...view,
        status: 'succeeded',
        progress: 100,
        step: 'unfreeze',
        updated_at: e.completedAt,
        result: {
          source: e.source,
          target: e.target,
          rows: e.rows,
          freeze_ms: e.freezeMs,
          duration_ms: e.durationMs,
          source_removal_due_at: e.sourceRemovalDueAt,
          source_removed_at: null,
        },
      };
    }
    case MigrationSourceRemoved.type: {
      const e = known.data;
      if (!view.result) return view;
      return {
        ...view,
        step: 'remove-source',
        updated_at: e.removedAt,
        result: { ...view.result, source_removed_at: e.removedAt },
      };
    }
    default:
      return view;
  }
}
