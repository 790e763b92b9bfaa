import {
  BackupCompleted,
  BackupDeleted,
  BackupFailed,
  type BackupManifest,
  BackupStarted,
  BackupVerified,
  type DataOf,
  type Placement,
  RestoreCompleted,
  RestoreFailed,
  RestoreProgressed,
  RestoreStarted,
  type RestoreStep,
  type TableMismatch,
} from '@ttm/contracts';

/** The events of the backup aggregate (`evt.backup.<backupId>`), as the decider sees them. */
export type BackupEvent =
  | { type: typeof BackupStarted.type; data: DataOf<typeof BackupStarted> }
  | { type: typeof BackupCompleted.type; data: DataOf<typeof BackupCompleted> }
  | { type: typeof BackupFailed.type; data: DataOf<typeof BackupFailed> }
  | { type: typeof BackupVerified.type; data: DataOf<typeof BackupVerified> }
  | { type: typeof BackupDeleted.type; data: DataOf<typeof BackupDeleted> }
  | { type: typeof RestoreStarted.type; data: DataOf<typeof RestoreStarted> }
  | { type: typeof RestoreProgressed.type; data: DataOf<typeof RestoreProgressed> }
  | { type: typeof RestoreCompleted.type; data: DataOf<typeof RestoreCompleted> }
  | { type: typeof RestoreFailed.type; data: DataOf<typeof RestoreFailed> };

type Started = DataOf<typeof BackupStarted>;
type Actor = Started['actor'];
type RestoreMode = DataOf<typeof RestoreStarted>['mode'];

export type BackupCommand =
  | { kind: 'Start'; data: Omit<Started, 'startedAt'>; at: Date }
  /** The backup cannot even start (unknown tenant, tenant not provisioned): recorded as failed. */
  | { kind: 'Reject'; backupId: string; tenantId: string; reason: string; at: Date }
  | { kind: 'Complete'; manifest: BackupManifest; durationMs: number; at: Date }
  | { kind: 'Fail'; reason: string; at: Date }
  | {
      kind: 'RecordVerification';
      verificationId: string;
      result: 'ok' | 'mismatch';
      mismatches: TableMismatch[];
      detail?: string;
      durationMs: number;
      at: Date;
    }
  | { kind: 'Delete'; reason: 'operator' | 'retention' | 'failed'; actor: Actor; detail?: string; at: Date }
  | {
      kind: 'StartRestore';
      restoreId: string;
      mode: RestoreMode;
      targetTenantId: string;
      targetPlacement: Placement;
      actor: Actor;
      at: Date;
    }
  | { kind: 'ProgressRestore'; restoreId: string; step: RestoreStep; progress: number; at: Date }
  | { kind: 'CompleteRestore'; restoreId: string; rows: number; durationMs: number; at: Date }
  /** Also for a restore that never started (refused): then mode and target come with the command. */
  | { kind: 'FailRestore'; restoreId: string; mode: RestoreMode; targetTenantId: string; reason: string; at: Date };

export type BackupStatus = 'none' | 'running' | 'completed' | 'failed' | 'deleted';

/** A running restore knows where it writes; a restore refused before it started has no target placement. */
export type RestoreState = {
  mode: RestoreMode;
  targetTenantId: string;
  steps: RestoreStep[];
  progress: number;
} & (
  | { status: 'running'; targetPlacement: Placement }
  | { status: 'completed' | 'failed'; targetPlacement?: Placement }
);

interface History {
  /** Verification ids already recorded, so a redelivered verify records nothing. */
  verifications: string[];
  lastVerification?: { verificationId: string; result: 'ok' | 'mismatch'; at: string };
  restores: Record<string, RestoreState>;
}

interface Identity {
  backupId: string;
  tenantId: string;
}

interface StartInfo {
  trigger: Started['trigger'];
  plan: Started['plan'];
  placement: Placement;
  startedAt: string;
}

interface Outcome {
  completedAt: string;
  manifest: BackupManifest;
}

/** Fields an arm does not have, as `undefined`, so that every arm can be read without narrowing first. */
type Absent<T> = { [K in keyof T]?: undefined };

/** A started backup knows what it snapshots; a completed one, its artifact; a rejected one only its ids. */
export type BackupState = History &
  (
    | (Absent<Identity & StartInfo & Outcome> & { status: 'none' })
    | (Identity & StartInfo & Absent<Outcome> & { status: 'running' })
    | (Identity & StartInfo & Outcome & { status: 'completed' })
    | (Identity & Partial<StartInfo & Outcome> & { status: 'failed' | 'deleted' })
  );

/** A backup with a first event: it has its ids. */
export type KnownBackup = Exclude<BackupState, { status: 'none' }>;
export type RunningBackup = Extract<BackupState, { status: 'running' }>;

/** A command the backup's current state does not allow; `code` is stable for API errors. */
export class BackupRuleViolation extends Error {
  constructor(
    readonly code: 'not-found' | 'invalid-state',
    message: string,
  ) {
    super(message);
    this.name = 'BackupRuleViolation';
  }
}

export const initialState = (): BackupState => ({ status: 'none', verifications: [], restores: {} });

export function evolve(state: BackupState, event: BackupEvent): BackupState {
  switch (event.type) {
    case BackupStarted.type: {
      // A backup starts only from nothing (the decider's rule).
      if (state.status !== 'none') return state;
      const e = event.data;
      return {
        ...state,
        status: 'running',
        backupId: e.backupId,
        tenantId: e.tenantId,
        trigger: e.trigger,
        plan: e.plan,
        placement: e.placement,
        startedAt: e.startedAt,
      };
    }
    case BackupCompleted.type:
      // Only a running backup is completed (the decider's rule), so the stream never holds another.
      if (state.status !== 'running') return state;
      return { ...state, status: 'completed', manifest: event.data.manifest, completedAt: event.data.completedAt };
    case BackupFailed.type:
      return { ...state, status: 'failed', backupId: event.data.backupId, tenantId: event.data.tenantId };
    case BackupVerified.type: {
      const e = event.data;
      return {
        ...state,
        verifications: [...state.verifications, e.verificationId],
        lastVerification: { verificationId: e.verificationId, result: e.result, at: e.verifiedAt },
      };
    }
    case BackupDeleted.type:
      if (state.status === 'none') return state; // nothing to delete: the decider refuses it
      return { ...state, status: 'deleted' };
    case RestoreStarted.type: {
      const e = event.data;
      const restore: RestoreState = {
        status: 'running',
        mode: e.mode,
        targetTenantId: e.targetTenantId,
        targetPlacement: e.targetPlacement,
        steps: [],
        progress: 0,
      };
      return { ...state, restores: { ...state.restores, [e.restoreId]: restore } };
    }
    case RestoreProgressed.type: {
      const e = event.data;
      const restore = state.restores[e.restoreId];
      if (!restore) return state;
      const next = { ...restore, steps: [...restore.steps, e.step], progress: Math.max(restore.progress, e.progress) };
      return { ...state, restores: { ...state.restores, [e.restoreId]: next } };
    }
    case RestoreCompleted.type: {
      const e = event.data;
      const restore = state.restores[e.restoreId];
      if (!restore) return state;
      return {
        ...state,
        restores: { ...state.restores, [e.restoreId]: { ...restore, status: 'completed', progress: 100 } },
      };
    }
    case RestoreFailed.type: {
      const e = event.data;
      const restore: RestoreState = state.restores[e.restoreId] ?? {
        status: 'failed',
        mode: e.mode,
        targetTenantId: e.targetTenantId,
        steps: [],
        progress: 0,
      };
      return { ...state, restores: { ...state.restores, [e.restoreId]: { ...restore, status: 'failed' } } };
    }
  }
}

/**
 * Pure rules of the backup aggregate. A command already carried out decides no events,
 * so every redelivery is harmless. A backup is good only once `completed`; only a good
 * backup is verified or restored; a running backup or one being restored is not deleted.
 */
export function decide(command: BackupCommand, state: BackupState): BackupEvent[] {
  const at = command.at.toISOString();
  switch (command.kind) {
    case 'Start':
      if (state.status !== 'none') return [];
      return [{ type: BackupStarted.type, data: { ...command.data, startedAt: at } }];
    case 'Reject':
      if (state.status !== 'none') return [];
      return [
        {
          type: BackupFailed.type,
          data: { backupId: command.backupId, tenantId: command.tenantId, reason: command.reason, failedAt: at },
        },
      ];
    case 'Complete': {
      if (state.status === 'completed') return [];
      if (state.status !== 'running') throw notAllowed(state, 'completed');
      const data = { backupId: state.backupId, tenantId: state.tenantId };
      return [
        {
          type: BackupCompleted.type,
          data: { ...data, manifest: command.manifest, durationMs: command.durationMs, completedAt: at },
        },
      ];
    }
    case 'Fail':
      if (state.status !== 'running') return [];
      return [
        {
          type: BackupFailed.type,
          data: { backupId: state.backupId, tenantId: state.tenantId, reason: command.reason, failedAt: at },
        },
      ];
    case 'RecordVerification': {
      if (state.verifications.includes(command.verificationId) || state.status === 'deleted') return [];
      if (state.status !== 'completed') throw notAllowed(state, 'verified');
      return [
        {
          type: BackupVerified.type,
          data: {
            backupId: state.backupId,
            tenantId: state.tenantId,
            verificationId: command.verificationId,
            result: command.result,
            mismatches: command.mismatches,
            ...(command.detail === undefined ? {} : { detail: command.detail }),
            durationMs: command.durationMs,
            verifiedAt: at,
          },
        },
      ];
    }
    case 'Delete': {
      if (state.status === 'deleted') return [];
      if (state.status === 'none') throw new BackupRuleViolation('not-found', 'no such backup');
      if (state.status === 'running') throw notAllowed(state, 'deleted');
      const restoring = Object.entries(state.restores).find(([, r]) => r.status === 'running');
      if (restoring) {
        throw new BackupRuleViolation(
          'invalid-state',
          `backup ${state.backupId} is being restored (restore ${restoring[0]}); delete it once the restore ends`,
        );
      }
      return [
        {
          type: BackupDeleted.type,
          data: {
            backupId: state.backupId,
            tenantId: state.tenantId,
            reason: command.reason,
            actor: command.actor,
            ...(command.detail === undefined ? {} : { detail: command.detail }),
            deletedAt: at,
          },
        },
      ];
    }
    case 'StartRestore': {
      if (state.restores[command.restoreId]) return [];
      if (state.status !== 'completed') throw notAllowed(state, 'restored');
      return [
        {
          type: RestoreStarted.type,
          data: {
            backupId: state.backupId,
            restoreId: command.restoreId,
            tenantId: state.tenantId,
            mode: command.mode,
            targetTenantId: command.targetTenantId,
            targetPlacement: command.targetPlacement,
            actor: command.actor,
            startedAt: at,
          },
        },
      ];
    }
    case 'ProgressRestore': {
      const { backup, restore } = requireRestore(state, command.restoreId);
      if (restore.status !== 'running' || restore.steps.includes(command.step)) return [];
      return [
        {
          type: RestoreProgressed.type,
          data: {
            backupId: backup.backupId,
            restoreId: command.restoreId,
            step: command.step,
            progress: command.progress,
            at,
          },
        },
      ];
    }
    case 'CompleteRestore': {
      const { backup, restore } = requireRestore(state, command.restoreId);
      if (restore.status !== 'running') return [];
      return [
        {
          type: RestoreCompleted.type,
          data: {
            backupId: backup.backupId,
            restoreId: command.restoreId,
            tenantId: backup.tenantId,
            mode: restore.mode,
            targetTenantId: restore.targetTenantId,
            targetPlacement: restore.targetPlacement,
            rows: command.rows,
            durationMs: command.durationMs,
            completedAt: at,
          },
        },
      ];
    }
    case 'FailRestore': {
      const restore = state.restores[command.restoreId];
      if (restore && restore.status !== 'running') return [];
      if (state.status === 'none') throw new BackupRuleViolation('not-found', 'no such backup');
      return [
        {
          type: RestoreFailed.type,
          data: {
            backupId: state.backupId,
            restoreId: command.restoreId,
            tenantId: state.tenantId,
            mode: restore?.mode ?? command.mode,
            targetTenantId: restore?.targetTenantId ?? command.targetTenantId,
            reason: command.reason,
            failedAt: at,
          },
        },
      ];
    }
  }
}

function requireRestore(state: BackupState, restoreId: string): { backup: KnownBackup; restore: RestoreState } {
  const restore = state.restores[restoreId];
  // A backup with no events has no restores either.
  if (!restore || state.status === 'none') {
    throw new BackupRuleViolation('not-found', `restore ${restoreId} is not one of this backup`);
  }
  return { backup: state, restore };
}

function notAllowed(state: BackupState, what: string): BackupRuleViolation {
  if (state.status === 'none') return new BackupRuleViolation('not-found', 'no such backup');
  return new BackupRuleViolation('invalid-state', `a backup that is ${state.status} cannot be ${what}`);
}

export const backupDecider = { decide, evolve, initialState };

/** Fold stored events into the state (for readers outside `handleCommand`). */
export function backupStateOf(events: readonly BackupEvent[]): BackupState {
  return events.reduce(evolve, initialState());
}
