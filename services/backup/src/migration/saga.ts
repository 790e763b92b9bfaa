import {
  ChangeTenantPlacement,
  type DataOf,
  encodeMessage,
  type MigrateTenant,
  type MigrationStep,
  type MigrationTableCheck,
  samePlacement,
  TenantPlacementChanged,
} from '@ttm/contracts';
import { closeTenantWrites, openTenantWrites, type Placement } from '@ttm/data-plane';
import { backoffDelay, knownMessage, pause, publishMessage, runSaga } from '@ttm/service-kit';
import { readTenantInfoAt } from '../shared/index.js';
import { executeMigrationCommand, MIGRATION_SOURCE, readMigration } from './aggregate.js';
import { type MigrationCommand, type MigrationState, type StartedMigration, startedMigration } from './decider.js';
import type { MigrationDeps } from './deps.js';
import {
  CORE_TABLE_REFS,
  checksumsAt,
  copyWorkspace,
  databaseUrlOf,
  differences,
  prepareTarget,
  removeTenantAt,
} from './workspaceCopy.js';

type Command = DataOf<typeof MigrateTenant>;

/** A migration that cannot be done as asked; no retry changes that. */
export class MigrationRefused extends Error {
  override name = 'MigrationRefused';
}

/**
 * Carry out a `ttm.migration.start.v1` command, picking up wherever an earlier delivery left
 * off (the migration's events say which steps are done; each step is safe to run again):
 *
 *   freeze → copy → verify → switch → unfreeze → (after the grace period) remove the source
 *
 * Before the switch, a failure rolls back (the partial target is dropped, the freeze lifted,
 * the tenant stays where it was); a database that cannot be reached is left to the command's
 * redelivery until its last one. After the switch there is no way back: the saga only goes on.
 */
export async function migrateTenant(
  deps: MigrationDeps,
  command: Command,
  options: { lastDelivery: boolean },
): Promise<MigrationState> {
  const { migrationId, tenantId } = command;
  const log = deps.logger.child({ migrationId, tenantId });
  let known = await readMigration(deps.js, migrationId);
  const exec = async (cmd: MigrationCommand) => {
    const result = await executeMigrationCommand(deps.js, migrationId, cmd, known);
    known = { state: result.state, lastSeq: result.lastSeq };
    return result.state;
  };

  if (known.state.status === 'none') {
    let source: Placement;
    try {
      source = await checkStart(deps, command);
    } catch (error) {
      if (!(error instanceof MigrationRefused)) throw error;
      log.warn({ reason: error.message }, 'migration refused');
      deps.migrationMetrics.outcomes.inc({ outcome: 'failed', step: 'freeze' });
      return exec({ kind: 'Fail', migrationId, tenantId, step: 'freeze', reason: error.message, at: new Date() });
    }
    await exec({
      kind: 'Start',
      data: { migrationId, tenantId, source, target: command.target, actor: command.actor },
      at: new Date(),
    });
  }
  let state = known.state;
  if (state.status === 'failed') {
    await rollBack(deps, state);
    return state;
  }

  const outcome = await runSaga<MigrationStep, MigrationCommand>({
    steps: [
      { step: 'freeze', run: () => freeze(deps, startedMigration(state), migrationId) },
      { step: 'copy', run: () => copy(deps, startedMigration(state)) },
      { step: 'verify', run: () => verify(deps, startedMigration(state)) },
      { step: 'switch', run: () => switchPlacement(deps, startedMigration(state)) },
      { step: 'unfreeze', run: () => unfreeze(deps, startedMigration(state)) },
    ],
    isRunning: () => state.status === 'running',
    isDone: (step) => state.steps.includes(step),
    isPermanent: (error) => error instanceof MigrationRefused,
    // Before the switch a database that cannot be reached is left to the redelivery; after it, there is no way back.
    lastDelivery: options.lastDelivery,
    pointOfNoReturn: 'switch',
    onAbandon: async () => {
      await openSourceWrites(deps, state).catch(() => false);
      await deps.freezes.release(tenantId, migrationId).catch(() => false);
    },
    isFailure: (next) => next.kind === 'Fail',
    afterStep: (step) => deps.hooks.afterMigrationStep?.(migrationId, step),
    complete: async (_step, next) => {
      state = await exec(next);
    },
    compensate: async (step, failure) => {
      if ('outcome' in failure) {
        const next = failure.outcome;
        log.error(
          { step, reason: next.kind === 'Fail' ? next.reason : undefined },
          'migration verification failed; rolling back',
        );
        await rollBack(deps, state);
        deps.migrationMetrics.outcomes.inc({ outcome: 'failed', step });
        state = await exec(next);
        return;
      }
      log.error({ step, err: failure.error }, 'migration failed; rolling back');
      // Rolled back first, recorded after: once the failure is visible, the tenant is as it was.
      // A crash in between is harmless: the next delivery's verify finds no target and fails again.
      await rollBack(deps, state);
      const reason = (failure.error as Error).message;
      state = await exec({ kind: 'Fail', migrationId, tenantId, step, reason, at: new Date() });
      deps.migrationMetrics.outcomes.inc({ outcome: 'failed', step });
    },
  });
  if (outcome.status === 'failed') return state;

  if (state.status === 'running') {
    const now = new Date();
    const freezeMs = Math.max(0, now.getTime() - Date.parse(state.frozenAt ?? now.toISOString()));
    const durationMs = Math.max(0, now.getTime() - Date.parse(state.startedAt ?? now.toISOString()));
    state = await exec({
      kind: 'Complete',
      freezeMs,
      durationMs,
      sourceRemovalDueAt: new Date(now.getTime() + deps.migration.sourceGraceMs),
      at: now,
    });
    deps.migrationMetrics.freezeDuration.observe(freezeMs / 1_000);
    deps.migrationMetrics.duration.observe(durationMs / 1_000);
    deps.migrationMetrics.outcomes.inc({ outcome: 'completed', step: 'unfreeze' });
    log.info({ freezeMs, durationMs, rows: state.rows, target: state.target }, 'migration completed');
  }
  if (state.status === 'completed' && !state.sourceRemoved && deps.migration.sourceGraceMs === 0) {
    state = await removeSource(deps, migrationId, state, known.lastSeq);
  }
  return state;
}

/** Why the migration cannot start, or the tenant's current placement. */
async function checkStart(deps: MigrationDeps, command: Command): Promise<Placement> {
  const { info } = await readTenantInfoAt(deps.js, command.tenantId);
  if (!info) throw new MigrationRefused(`tenant ${command.tenantId} is not registered`);
  if (info.status !== 'active' && info.status !== 'suspended') {
    throw new MigrationRefused(`tenant ${command.tenantId} is ${info.status}; only a provisioned tenant is migrated`);
  }
  const source = info.placement;
  if (!source) throw new MigrationRefused(`tenant ${command.tenantId} has no placement`);
  if (!samePlacement(source, command.source)) {
    throw new MigrationRefused(
      `tenant ${command.tenantId} lives at ${source.cluster}/${source.database}, not where the request saw it`,
    );
  }
  const target = command.target;
  try {
    deps.clusters.cluster(target.region, target.cluster);
  } catch (error) {
    throw new MigrationRefused((error as Error).message);
  }
  if (source.region === target.region && source.cluster === target.cluster) {
    throw new MigrationRefused(`tenant ${command.tenantId} is on cluster ${target.cluster} already`);
  }
  if (databaseUrlOf(deps.clusters, source) === databaseUrlOf(deps.clusters, target)) {
    throw new MigrationRefused(`clusters ${source.cluster} and ${target.cluster} are the same database`);
  }
  return source;
}

async function freeze(deps: MigrationDeps, state: StartedMigration, migrationId: string): Promise<MigrationCommand> {
  const tenantId = state.tenantId;
  const result = await deps.freezes.acquire(tenantId, {
    reason: 'migration',
    operation_id: migrationId,
    since: new Date().toISOString(),
    retry_after_s: deps.migration.retryAfterS,
  });
  if (!result.acquired) {
    throw new MigrationRefused(
      `the tenant writes are frozen by a ${result.heldBy.reason} (${result.heldBy.operation_id}) since ${result.heldBy.since}`,
    );
  }
  // Gateways learn of the freeze through an asynchronous watch; the source database itself now
  // refuses the tenant's writes, and returns once every write already in progress has ended, so
  // the copy's snapshot holds every write that was acknowledged.
  await closeTenantWrites(deps.clusters.poolFor(state.source), tenantId, {
    operationId: migrationId,
    reason: 'migration',
    retryAfterS: deps.migration.retryAfterS,
  });
  return { kind: 'CompleteStep', step: 'freeze', at: new Date() };
}

/** Let the source take writes again (a migration that did not switch); the gate stays closed after a switch. */
async function openSourceWrites(deps: MigrationDeps, state: MigrationState): Promise<void> {
  if (state.status === 'none' || !state.source || state.steps.includes('switch')) return;
  await openTenantWrites(deps.clusters.poolFor(state.source), state.tenantId, state.migrationId);
}

async function copy(deps: MigrationDeps, state: StartedMigration): Promise<MigrationCommand> {
  const target = state.target;
  await settleEarlierSources(deps, state);
  await prepareTarget(deps.clusters, target);
  const { rows, tables } = await copyWorkspace(deps.clusters, {
    migrationId: state.migrationId,
    tenantId: state.tenantId,
    source: state.source,
    target,
    batchRows: deps.batchRows,
  });
  const checks: MigrationTableCheck[] = tables.map((t) => ({
    scope: t.scope,
    name: t.name,
    rows: t.rows,
    sha256: t.sha256,
  }));
  return { kind: 'CompleteStep', step: 'copy', rows, tables: checks, at: new Date() };
}

async function verify(deps: MigrationDeps, state: StartedMigration): Promise<MigrationCommand> {
  const target = state.target;
  await deps.hooks.beforeMigrationVerify?.(state.migrationId, target);
  const source = state.sourceTables ?? [];
  const refs = [...source.filter((t) => t.scope === 'workspace'), ...CORE_TABLE_REFS];
  const actual = await checksumsAt(deps.clusters.poolFor(target), state.tenantId, target.schema, refs, deps.batchRows);
  const mismatches = differences(source, actual);
  if (mismatches.length === 0) return { kind: 'CompleteStep', step: 'verify', tables: source, at: new Date() };
  const names = mismatches.map((m) => `${m.scope}.${m.name}`).join(', ');
  return {
    kind: 'Fail',
    migrationId: state.migrationId,
    tenantId: state.tenantId,
    step: 'verify',
    reason: `the target differs from the source in ${mismatches.length} table(s): ${names}`,
    mismatches,
    at: new Date(),
  };
}

/**
 * Point the tenant at the target: its workspace row there gets the tenant's current status,
 * then the provisioner (the tenant's one writer) is asked to record the move
 * (`ttm.tenant.change-placement.v1`), and the freeze entry learns the sequence of the resulting
 * `ttm.tenant.placement-changed.v1`, so a gateway resumes writes only once it routes to the target.
 * A second run finds the event and only amends the freeze.
 */
async function switchPlacement(deps: MigrationDeps, state: StartedMigration): Promise<MigrationCommand> {
  const tenantId = state.tenantId;
  const migrationId = state.migrationId;
  const target = state.target;
  let seq = await placementChangeSeq(deps, tenantId, migrationId);
  if (seq === undefined) {
    const { info } = await readTenantInfoAt(deps.js, tenantId);
    if (!info || !samePlacement(info.placement, state.source)) {
      throw new MigrationRefused('the tenant placement changed while it was being migrated');
    }
    const status = info.status === 'suspended' ? 'SUSPENDED' : 'ACTIVE';
    await deps.clusters
      .poolFor(target)
      .query(`UPDATE core.workspace SET "activationStatus" = $2 WHERE id = $1`, [tenantId, status]);
    const command = encodeMessage(
      ChangeTenantPlacement,
      { tenantId, migrationId, from: state.source, to: target },
      { source: MIGRATION_SOURCE, subject: tenantId, id: `change-placement/${migrationId}` },
    );
    await publishMessage(deps.js, ChangeTenantPlacement.subject, command);
    seq = await awaitPlacementChange(deps, tenantId, migrationId);
  }
  await deps.freezes.amend(tenantId, migrationId, { placement_seq: seq });
  return { kind: 'CompleteStep', step: 'switch', at: new Date() };
}

/** The stream sequence of this migration's placement change on the tenant's events, if it is there. */
async function placementChangeSeq(
  deps: MigrationDeps,
  tenantId: string,
  migrationId: string,
): Promise<number | undefined> {
  const { events } = await readTenantInfoAt(deps.js, tenantId);
  return events.find((event) => {
    const known = knownMessage(event, [TenantPlacementChanged]);
    return known?.data.migrationId === migrationId;
  })?.seq;
}

/** How long the switch waits for the provisioner to record the move before leaving it to the redelivery. */
const PLACEMENT_CHANGE_WAIT_MS = 30_000;

async function awaitPlacementChange(deps: MigrationDeps, tenantId: string, migrationId: string): Promise<number> {
  const deadline = Date.now() + PLACEMENT_CHANGE_WAIT_MS;
  for (let attempt = 1; ; attempt++) {
    const seq = await placementChangeSeq(deps, tenantId, migrationId);
    if (seq !== undefined) return seq;
    if (Date.now() >= deadline) {
      throw new Error(
        `the provisioner has not recorded the placement change of migration ${migrationId} yet; ` +
          'the switch is retried with the command (is the provisioner running?)',
      );
    }
    await pause(backoffDelay(attempt, { baseMs: 20, maxMs: 1_000 }));
  }
}

async function unfreeze(deps: MigrationDeps, state: StartedMigration): Promise<MigrationCommand> {
  await deps.freezes.release(state.tenantId, state.migrationId);
  return { kind: 'CompleteStep', step: 'unfreeze', at: new Date() };
}

/**
 * A tenant moved back to where an earlier migration took it from, before that one's grace
 * period ended: the old copy there is removed now (the copy replaces it anyway), and recorded,
 * so the earlier migration's sweep never drops the new copy.
 */
async function settleEarlierSources(deps: MigrationDeps, state: StartedMigration): Promise<void> {
  const { rows } = await deps.pool.query<{ migration_id: string }>(
    `SELECT migration_id FROM backup.migrations
      WHERE tenant_id = $1 AND migration_id <> $2 AND status = 'completed' AND NOT source_removed`,
    [state.tenantId, state.migrationId],
  );
  for (const { migration_id: id } of rows) {
    const earlier = await readMigration(deps.js, id);
    if (earlier.state.status !== 'completed' || earlier.state.sourceRemoved) continue;
    if (!samePlacement(earlier.state.source, state.target)) continue;
    await removeSource(deps, id, earlier.state, earlier.lastSeq, state.migrationId);
  }
}

/** Undo a migration that did not switch: drop the partial target, lift the freeze. Idempotent. */
async function rollBack(deps: MigrationDeps, state: MigrationState): Promise<void> {
  if (state.status === 'none') return; // nothing started, nothing to undo
  const tenantId = state.tenantId;
  if (state.target && state.source && !state.steps.includes('switch')) {
    const { info } = await readTenantInfoAt(deps.js, tenantId);
    // Never drop where the tenant lives (a refused start has no target of its own).
    if (state.steps.includes('freeze') && !samePlacement(info?.placement, state.target)) {
      await removeTenantAt(deps.clusters, state.target, tenantId);
    }
  }
  await openSourceWrites(deps, state);
  await deps.freezes.release(tenantId, state.migrationId);
}

/**
 * After the grace period: remove the tenant from its old placement, unless it lives there
 * again (migrated back meanwhile), and record it.
 *
 * While another migration of the tenant holds its freeze, nothing is removed nor recorded (the
 * sweep comes back later): that migration may be copying the tenant back into this very
 * placement, and dropping it would drop the new copy. `settledBy` is the migration that settles
 * this source itself, in its copy step, before copying.
 */
export async function removeSource(
  deps: MigrationDeps,
  migrationId: string,
  state: MigrationState,
  lastSeq?: number,
  settledBy?: string,
): Promise<MigrationState> {
  if (state.status !== 'completed' || state.sourceRemoved) return state;
  const tenantId = state.tenantId;
  // Decided under the tenant's lock at the source, which a migration's copy holds while it copies
  // (and that migration froze the tenant before): neither answer can change before the removal.
  let kept: 'migrating' | 'lives-there' | undefined;
  await removeTenantAt(deps.clusters, state.source, tenantId, async () => {
    const held = await deps.freezes.get(tenantId);
    if (held?.entry.reason === 'migration' && held.entry.operation_id !== settledBy) kept = 'migrating';
    else if (samePlacement((await readTenantInfoAt(deps.js, tenantId)).info?.placement, state.source)) {
      kept = 'lives-there';
    }
    return kept === undefined;
  });
  if (kept === 'migrating') {
    deps.logger.info(
      { migrationId, tenantId },
      'another migration of the tenant is running; the source is kept for now',
    );
    return state;
  }
  if (kept === 'lives-there') {
    deps.logger.warn({ migrationId, tenantId }, 'the tenant lives at the old source again; it is not removed');
  }
  await deps.hooks.afterMigrationStep?.(migrationId, 'remove-source');
  const result = await executeMigrationCommand(
    deps.js,
    migrationId,
    { kind: 'RemoveSource', at: new Date() },
    lastSeq === undefined ? undefined : { state, lastSeq },
  );
  deps.logger.info({ migrationId, tenantId, source: state.source }, 'migration source removed');
  return result.state;
}

/**
 * Remove the sources whose grace period is over. The projection only points at candidates;
 * each migration's events, the source of truth, decide.
 */
export async function removeDueSources(deps: MigrationDeps, now = new Date()): Promise<number> {
  const { rows } = await deps.pool.query<{ migration_id: string }>(
    `SELECT migration_id FROM backup.migrations
      WHERE status = 'completed' AND NOT source_removed AND source_removal_due_at <= $1
      ORDER BY source_removal_due_at LIMIT 100`,
    [now],
  );
  let removed = 0;
  for (const { migration_id: id } of rows) {
    const { state, lastSeq } = await readMigration(deps.js, id);
    if (state.status !== 'completed' || state.sourceRemoved || !state.sourceRemovalDueAt) continue;
    if (Date.parse(state.sourceRemovalDueAt) > now.getTime()) continue;
    if ((await removeSource(deps, id, state, lastSeq)).sourceRemoved) removed++;
  }
  return removed;
}

/** Look for due source removals every `everyMs` until `signal` aborts (and once at start). */
export async function runSourceSweeper(deps: MigrationDeps, everyMs: number, signal: AbortSignal): Promise<void> {
  if (everyMs <= 0) return;
  while (!signal.aborted) {
    try {
      await removeDueSources(deps);
    } catch (error) {
      if (!signal.aborted) deps.logger.warn({ err: error }, 'removing migration sources failed; will try again');
    }
    await pause(everyMs, signal);
  }
}
