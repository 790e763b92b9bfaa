import {
  type DataOf,
  MigrationCompleted,
  MigrationFailed,
  MigrationSourceRemoved,
  MigrationStarted,
  type MigrationStep,
  MigrationStepCompleted,
  type MigrationTableCheck,
  type Placement,
} from '@ttm/contracts';
import type { z } from 'zod';

/** The events of the migration aggregate (`evt.migration.<migrationId>`). */
export type MigrationEvent =
  | { type: typeof MigrationStarted.type; data: DataOf<typeof MigrationStarted> }
  | { type: typeof MigrationStepCompleted.type; data: DataOf<typeof MigrationStepCompleted> }
  | { type: typeof MigrationCompleted.type; data: DataOf<typeof MigrationCompleted> }
  | { type: typeof MigrationSourceRemoved.type; data: DataOf<typeof MigrationSourceRemoved> }
  | { type: typeof MigrationFailed.type; data: DataOf<typeof MigrationFailed> };

type PlacementValue = z.output<typeof Placement>;
type Started = DataOf<typeof MigrationStarted>;

export type MigrationCommand =
  | { kind: 'Start'; data: Omit<Started, 'startedAt'>; at: Date }
  | { kind: 'CompleteStep'; step: MigrationStep; rows?: number; tables?: MigrationTableCheck[]; at: Date }
  | { kind: 'Complete'; freezeMs: number; durationMs: number; sourceRemovalDueAt: Date; at: Date }
  | { kind: 'RemoveSource'; at: Date }
  /** Also for a migration refused before it started: then tenant and step come with the command. */
  | {
      kind: 'Fail';
      migrationId: string;
      tenantId: string;
      step: MigrationStep;
      reason: string;
      mismatches?: MigrationTableCheck[];
      at: Date;
    };

export type MigrationStatus = MigrationState['status'];

interface Progress {
  steps: MigrationStep[];
  /** When the freeze step completed: the write freeze started then. */
  frozenAt?: string;
  rows?: number;
  /** Source checksums recorded by the copy step, for the verify step. */
  sourceTables?: MigrationTableCheck[];
  sourceRemoved: boolean;
}

interface Identity {
  migrationId: string;
  tenantId: string;
}

interface Route {
  source: PlacementValue;
  target: PlacementValue;
  startedAt: string;
}

interface Removal {
  sourceRemovalDueAt: string;
}

/** Fields an arm does not have, as `undefined`, so that every arm can be read without narrowing first. */
type Absent<T> = { [K in keyof T]?: undefined };

/** A started migration knows its route; one refused before it started knows only its ids. */
export type MigrationState = Progress &
  (
    | (Absent<Identity & Route & Removal> & { status: 'none' })
    | (Identity & Route & Absent<Removal> & { status: 'running' })
    | (Identity & Route & Removal & { status: 'completed' })
    | (Identity & Partial<Route> & Absent<Removal> & { status: 'failed' })
  );

/** A migration with a first event: it has its ids. */
export type KnownMigration = Exclude<MigrationState, { status: 'none' }>;
/** A migration that started: it has its route too (its steps run only while it is running). */
export type StartedMigration = Extract<MigrationState, { status: 'running' | 'completed' }>;
export type CompletedMigration = Extract<MigrationState, { status: 'completed' }>;

/** The migration as one that started, for the steps the saga runs only while it is running. */
export function startedMigration(state: MigrationState): StartedMigration {
  if (state.status !== 'running' && state.status !== 'completed') {
    throw new Error(`migration is ${state.status}: it has no route`);
  }
  return state;
}

/** The steps in order with the progress reported when each completes. */
export const MIGRATION_STEPS: readonly { step: MigrationStep; progress: number }[] = [
  { step: 'freeze', progress: 10 },
  { step: 'copy', progress: 50 },
  { step: 'verify', progress: 70 },
  { step: 'switch', progress: 85 },
  { step: 'unfreeze', progress: 95 },
];

export const initialState = (): MigrationState => ({ status: 'none', steps: [], sourceRemoved: false });

export function evolve(state: MigrationState, event: MigrationEvent): MigrationState {
  switch (event.type) {
    case MigrationStarted.type: {
      // A migration starts only from nothing (the decider's rule).
      if (state.status !== 'none') return state;
      const e = event.data;
      return {
        ...state,
        status: 'running',
        migrationId: e.migrationId,
        tenantId: e.tenantId,
        source: e.source,
        target: e.target,
        startedAt: e.startedAt,
      };
    }
    case MigrationStepCompleted.type: {
      const e = event.data;
      return {
        ...state,
        steps: [...state.steps, e.step],
        ...(e.step === 'freeze' ? { frozenAt: e.at } : {}),
        ...(e.step === 'copy' ? { rows: e.rows ?? 0, sourceTables: e.tables ?? [] } : {}),
      };
    }
    case MigrationCompleted.type:
      // Only a running migration completes (the decider's rule), so the stream never holds another.
      if (state.status !== 'running') return state;
      return { ...state, status: 'completed', sourceRemovalDueAt: event.data.sourceRemovalDueAt };
    case MigrationSourceRemoved.type:
      return { ...state, sourceRemoved: true };
    case MigrationFailed.type:
      if (state.status === 'completed') return state; // past the switch a migration does not fail
      return {
        ...state,
        status: 'failed',
        migrationId: event.data.migrationId,
        tenantId: event.data.tenantId,
      };
    default:
      return state;
  }
}

/** Pure rules of a migration: a command already carried out decides nothing, so redeliveries are harmless. */
export function decide(command: MigrationCommand, state: MigrationState): MigrationEvent[] {
  const at = command.at.toISOString();
  switch (command.kind) {
    case 'Start':
      if (state.status !== 'none') return [];
      return [{ type: MigrationStarted.type, data: { ...command.data, startedAt: at } }];
    case 'CompleteStep': {
      if (state.status !== 'running' || state.steps.includes(command.step)) return [];
      const progress = MIGRATION_STEPS.find((s) => s.step === command.step)?.progress ?? 0;
      return [
        {
          type: MigrationStepCompleted.type,
          data: {
            migrationId: state.migrationId,
            tenantId: state.tenantId,
            step: command.step,
            progress,
            ...(command.rows === undefined ? {} : { rows: command.rows }),
            ...(command.tables === undefined ? {} : { tables: command.tables }),
            at,
          },
        },
      ];
    }
    case 'Complete':
      if (state.status !== 'running') return [];
      return [
        {
          type: MigrationCompleted.type,
          data: {
            migrationId: state.migrationId,
            tenantId: state.tenantId,
            source: state.source,
            target: state.target,
            rows: state.rows ?? 0,
            freezeMs: command.freezeMs,
            durationMs: command.durationMs,
            sourceRemovalDueAt: command.sourceRemovalDueAt.toISOString(),
            completedAt: at,
          },
        },
      ];
    case 'RemoveSource':
      if (state.status !== 'completed' || state.sourceRemoved) return [];
      return [
        {
          type: MigrationSourceRemoved.type,
          data: { migrationId: state.migrationId, tenantId: state.tenantId, source: state.source, removedAt: at },
        },
      ];
    case 'Fail': {
      if (state.status === 'completed' || state.status === 'failed') return [];
      // Refused before it started: the ids come with the command.
      const { migrationId, tenantId } = state.status === 'running' ? state : command;
      return [
        {
          type: MigrationFailed.type,
          data: {
            migrationId,
            tenantId,
            step: command.step,
            reason: command.reason.slice(0, 2000),
            ...(command.mismatches === undefined ? {} : { mismatches: command.mismatches }),
            failedAt: at,
          },
        },
      ];
    }
  }
}

export const migrationDecider = { decide, evolve, initialState };

export function migrationStateOf(events: readonly MigrationEvent[]): MigrationState {
  return events.reduce(evolve, initialState());
}
