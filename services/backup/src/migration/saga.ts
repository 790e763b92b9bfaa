import {
  type DataOf,
  encodeMessage,
  type MigrateTenant,
  type MigrationStep,
  type MigrationTableCheck,
  Subjects,
  TenantPlacementChanged,
} from '@ttm/contracts';
import type { Placement } from '@ttm/data-plane';
import { appendEvents, ConcurrencyConflict, pause } from '@ttm/service-kit';
import { SOURCE } from '../backup/aggregate.js';
import type { BackupDeps } from '../deps.js';
import { readTenantInfoAt } from '../tenants/tenantInfo.js';
import { executeMigrationCommand, readMigration } from './aggregate.js';
import type { MigrationCommand, MigrationState } from './decider.js';
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

const samePlacement = (a: Placement | undefined, b: Placement | undefined) =>
  !!a &&
  !!b &&
  a.region === b.region &&
  a.cluster === b.cluster &&
  a.kind === b.kind &&
  a.database === b.database &&
  a.schema === b.schema;

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
  deps: BackupDeps,
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

  const steps: { step: MigrationStep; run: () => Promise<MigrationCommand> }[] = [
    { step: 'freeze', run: () => freeze(deps, state, migrationId) },
    { step: 'copy', run: () => copy(deps, state) },
    { step: 'verify', run: () => verify(deps, state) },
    { step: 'switch', run: () => switchPlacement(deps, state) },
    { step: 'unfreeze', run: () => unfreeze(deps, state) },
  ];
  for (const { step, run } of state.status === 'running' ? steps : []) {
    if (state.steps.includes(step)) continue;
    let next: MigrationCommand;
    try {
      next = await run();
    } catch (error) {
      const refused = error instanceof MigrationRefused;
      // Once the placement changed there is no way back; a refused switch appended nothing.
      const switched = state.steps.includes('switch') || (step === 'switch' && !refused);
      if (switched || (!refused && !options.lastDelivery)) {
        if (switched && options.lastDelivery) await deps.freezes.release(tenantId, migrationId).catch(() => false);
        throw error;
      }
      log.error({ step, err: error }, 'migration failed; rolling back');
      // Rolled back first, recorded after: once the failure is visible, the tenant is as it was.
      // A crash in between is harmless: the next delivery's verify finds no target and fails again.
      await rollBack(deps, state);
      const reason = (error as Error).message;
      state = await exec({ kind: 'Fail', migrationId, tenantId, step, reason, at: new Date() });
      deps.migrationMetrics.outcomes.inc({ outcome: 'failed', step });
      return state;
    }
    if (next.kind === 'Fail') {
      log.error({ step, reason: next.reason }, 'migration verification failed; rolling back');
      await rollBack(deps, state);
      deps.migrationMetrics.outcomes.inc({ outcome: 'failed', step });
      return exec(next);
    }
    await deps.hooks.afterMigrationStep?.(migrationId, step);
    state = await exec(next);
  }

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
async function checkStart(deps: BackupDeps, command: Command): Promise<Placement> {
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

async function freeze(deps: BackupDeps, state: MigrationState, migrationId: string): Promise<MigrationCommand> {
  const tenantId = state.tenantId!;
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
  return { kind: 'CompleteStep', step: 'freeze', at: new Date() };
}

async function copy(deps: BackupDeps, state: MigrationState): Promise<MigrationCommand> {
  const target = state.target!;
  await settleEarlierSources(deps, state);
  await prepareTarget(deps.clusters, target);
  const { rows, tables } = await copyWorkspace(deps.clusters, {
    migrationId: state.migrationId!,
    tenantId: state.tenantId!,
    source: state.source!,
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

async function verify(deps: BackupDeps, state: MigrationState): Promise<MigrationCommand> {
  const target = state.target!;
  await deps.hooks.beforeMigrationVerify?.(state.migrationId!, target);
  const source = state.sourceTables ?? [];
  const refs = [...source.filter((t) => t.scope === 'workspace'), ...CORE_TABLE_REFS];
  const actual = await checksumsAt(deps.clusters.poolFor(target), state.tenantId!, target.schema, refs, deps.batchRows);
  const mismatches = differences(source, actual);
  if (mismatches.length === 0) return { kind: 'CompleteStep', step: 'verify', tables: source, at: new Date() };
  const names = mismatches.map((m) => `${m.scope}.${m.name}`).join(', ');
  return {
    kind: 'Fail',
    migrationId: state.migrationId!,
    tenantId: state.tenantId!,
    step: 'verify',
    reason: `the target differs from the source in ${mismatches.length} table(s): ${names}`,
    mismatches,
    at: new Date(),
  };
}

/**
 * Point the tenant at the target: its workspace row there gets the tenant's current status,
 * then `ttm.tenant.placement-changed.v1` is appended to the tenant's events (optimistic
 * concurrency; found already appended on a second run), and the freeze entry learns the event's
 * sequence so a gateway resumes writes only once it routes to the target.
 */
async function switchPlacement(deps: BackupDeps, state: MigrationState): Promise<MigrationCommand> {
  const tenantId = state.tenantId!;
  const target = state.target!;
  const subject = Subjects.tenantEvents(tenantId);
  for (let attempt = 1; ; attempt++) {
    const { info, lastSeq, events } = await readTenantInfoAt(deps.js, tenantId);
    const done = events.find(
      (e) =>
        e.type === TenantPlacementChanged.type &&
        (e.data as DataOf<typeof TenantPlacementChanged>).migrationId === state.migrationId,
    );
    let seq = done?.seq;
    if (!done) {
      if (!info || !samePlacement(info.placement, state.source)) {
        throw new MigrationRefused('the tenant placement changed while it was being migrated');
      }
      const status = info.status === 'suspended' ? 'SUSPENDED' : 'ACTIVE';
      await deps.clusters
        .poolFor(target)
        .query(`UPDATE core.workspace SET "activationStatus" = $2 WHERE id = $1`, [tenantId, status]);
      const event = encodeMessage(
        TenantPlacementChanged,
        {
          tenantId,
          migrationId: state.migrationId!,
          from: state.source!,
          to: target,
          changedAt: new Date().toISOString(),
        },
        { source: SOURCE, subject: tenantId },
      );
      try {
        seq = (await appendEvents(deps.js, subject, [event], lastSeq)).lastSeq;
      } catch (error) {
        if (!(error instanceof ConcurrencyConflict) || attempt >= 8) throw error;
        await pause(20 * attempt);
        continue;
      }
    }
    await deps.freezes.amend(tenantId, state.migrationId!, { placement_seq: seq! });
    return { kind: 'CompleteStep', step: 'switch', at: new Date() };
  }
}

async function unfreeze(deps: BackupDeps, state: MigrationState): Promise<MigrationCommand> {
  await deps.freezes.release(state.tenantId!, state.migrationId!);
  return { kind: 'CompleteStep', step: 'unfreeze', at: new Date() };
}

/**
 * A tenant moved back to where an earlier migration took it from, before that one's grace
 * period ended: the old copy there is removed now (the copy replaces it anyway), and recorded,
 * so the earlier migration's sweep never drops the new copy.
 */
async function settleEarlierSources(deps: BackupDeps, state: MigrationState): Promise<void> {
  const { rows } = await deps.pool.query<{ migration_id: string }>(
    `SELECT migration_id FROM backup.migrations
      WHERE tenant_id = $1 AND migration_id <> $2 AND status = 'completed' AND NOT source_removed`,
    [state.tenantId, state.migrationId],
  );
  for (const { migration_id: id } of rows) {
    const earlier = await readMigration(deps.js, id);
    if (earlier.state.status !== 'completed' || earlier.state.sourceRemoved) continue;
    if (!samePlacement(earlier.state.source, state.target)) continue;
    await removeSource(deps, id, earlier.state, earlier.lastSeq);
  }
}

/** Undo a migration that did not switch: drop the partial target, lift the freeze. Idempotent. */
async function rollBack(deps: BackupDeps, state: MigrationState): Promise<void> {
  const tenantId = state.tenantId!;
  if (state.target && state.source && !state.steps.includes('switch')) {
    const { info } = await readTenantInfoAt(deps.js, tenantId);
    // Never drop where the tenant lives (a refused start has no target of its own).
    if (state.steps.includes('freeze') && !samePlacement(info?.placement, state.target)) {
      await removeTenantAt(deps.clusters, state.target, tenantId);
    }
  }
  await deps.freezes.release(tenantId, state.migrationId!);
}

/**
 * After the grace period: remove the tenant from its old placement, unless it lives there
 * again (migrated back meanwhile), and record it.
 */
export async function removeSource(
  deps: BackupDeps,
  migrationId: string,
  state: MigrationState,
  lastSeq?: number,
): Promise<MigrationState> {
  if (state.status !== 'completed' || state.sourceRemoved) return state;
  const tenantId = state.tenantId!;
  const { info } = await readTenantInfoAt(deps.js, tenantId);
  if (samePlacement(info?.placement, state.source)) {
    deps.logger.warn({ migrationId, tenantId }, 'the tenant lives at the old source again; it is not removed');
  } else {
    await removeTenantAt(deps.clusters, state.source!, tenantId);
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
export async function removeDueSources(deps: BackupDeps, now = new Date()): Promise<number> {
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
    await removeSource(deps, id, state, lastSeq);
    removed++;
  }
  return removed;
}

/** Look for due source removals every `everyMs` until `signal` aborts (and once at start). */
export async function runSourceSweeper(deps: BackupDeps, everyMs: number, signal: AbortSignal): Promise<void> {
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
