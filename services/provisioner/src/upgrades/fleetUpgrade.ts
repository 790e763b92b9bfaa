import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { TenantUpgradeStatus, UpgradeStatus, UpgradeTenantRows, UpgradeView } from '@ttm/contracts';
import {
  OLDEST_SUPPORTED_SCHEMA_VERSION,
  type Placement,
  schemaVersionOf,
  UpgradePace,
  WORKSPACE_SCHEMA_VERSION,
  WorkspaceArchived,
} from '@ttm/data-plane';
import type { Logger, Pool } from '@ttm/service-kit';
import type { DataPlane } from '../dataPlane/dataPlane.js';
import { assignWaves, estimate, judgeWave, UpgradeSpec } from './plan.js';
import { upgradeTenant } from './upgradeTenant.js';

export type { TenantUpgradeStatus, UpgradeStatus };

export interface FleetUpgradeDeps {
  /** The provisioner's control-plane pool (schema `provisioner`). */
  pool: Pool;
  js: JetStreamClient;
  dataPlane: DataPlane;
  logger: Logger;
  /** Tenants started per second per cluster when the upgrade does not say (0 or absent: no cap). */
  maxTenantsPerSecond?: number;
  /** Test hook: runs after a tenant's change and before its status is recorded. */
  afterTenant?: (tenantId: string) => void | Promise<void>;
}

/** Where an upgrade stands (the contracts' view, so the gateway shows exactly this). */
export type UpgradeProgress = UpgradeView;

/** A request the current state does not allow (unknown version, nothing to roll back, …). */
export class UpgradeRefused extends Error {
  override name = 'UpgradeRefused';
  constructor(
    message: string,
    /** What kind of refusal: the gateway answers 422, 404 or 409 for them. */
    readonly code: 'unknown-version' | 'not-found' | 'conflict' = 'conflict',
  ) {
    super(message);
  }
}

/**
 * Plan an upgrade: the tenants the filters select, each with its wave, all `pending`. The
 * version each tenant is at is read when its turn comes. Returns the upgrade id; the
 * provisioner's upgrade scheduler (or `runUpgrade`) carries it out.
 */
export async function createUpgrade(
  pool: Pool,
  input: unknown,
  options: { upgradeId?: string; tenantIds?: readonly string[]; rollbackOf?: string } = {},
): Promise<string> {
  const spec = UpgradeSpec.parse(input);
  if (spec.targetVersion > WORKSPACE_SCHEMA_VERSION || spec.targetVersion < OLDEST_SUPPORTED_SCHEMA_VERSION) {
    throw new UpgradeRefused(
      `schema version ${spec.targetVersion} is not one this build can move workspaces to (${OLDEST_SUPPORTED_SCHEMA_VERSION}..${WORKSPACE_SCHEMA_VERSION})`,
      'unknown-version',
    );
  }
  const upgradeId = options.upgradeId ?? randomUUID();
  const { rows: placed } = await pool.query<{ tenant_id: string; region: string; cluster: string }>(
    `SELECT tenant_id, region, cluster FROM provisioner.placements
      WHERE ($1::text IS NULL OR plan = $1) AND ($2::text IS NULL OR region = $2) AND ($3::text IS NULL OR cluster = $3)
        AND ($4::uuid[] IS NULL OR tenant_id = ANY($4))`,
    [spec.filters.plan ?? null, spec.filters.region ?? null, spec.filters.cluster ?? null, options.tenantIds ?? null],
  );
  const byId = new Map(placed.map((p) => [p.tenant_id, p]));
  const plan = assignWaves(
    upgradeId,
    placed.map((p) => p.tenant_id),
    spec.waves,
  );
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO provisioner.upgrades (id, target_version, spec, status, rollback_of) VALUES ($1, $2, $3, 'running', $4)`,
      [upgradeId, spec.targetVersion, JSON.stringify(spec), options.rollbackOf ?? null],
    );
    for (let i = 0; i < plan.length; i += 1000) {
      const slice = plan.slice(i, i + 1000);
      await client.query(
        `INSERT INTO provisioner.upgrade_tenants (upgrade_id, tenant_id, wave, ordinal, region, cluster, status)
         SELECT $1, t.id, t.wave, t.ordinal, t.region, t.cluster, 'pending'
           FROM unnest($2::uuid[], $3::int[], $4::int[], $5::text[], $6::text[]) AS t(id, wave, ordinal, region, cluster)`,
        [
          upgradeId,
          slice.map((p) => p.tenantId),
          slice.map((p) => p.wave),
          slice.map((p) => p.ordinal),
          slice.map((p) => byId.get(p.tenantId)?.region),
          slice.map((p) => byId.get(p.tenantId)?.cluster),
        ],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  return upgradeId;
}

/** Pause, resume or cancel: what the runner reads between tenants. */
export async function setUpgradeStatus(
  pool: Pool,
  upgradeId: string,
  action: 'pause' | 'resume' | 'cancel',
  reason?: string,
): Promise<UpgradeStatus> {
  const next = { pause: 'paused', resume: 'running', cancel: 'cancelled' }[action];
  const allowed = { pause: ['running'], resume: ['paused'], cancel: ['running', 'paused'] }[action];
  const { rows } = await pool.query<{ status: UpgradeStatus }>(
    `UPDATE provisioner.upgrades SET status = CASE WHEN status = ANY($3) THEN $2 ELSE status END,
            status_reason = CASE WHEN status = ANY($3) THEN $4 ELSE status_reason END, updated_at = now()
      WHERE id = $1 RETURNING status`,
    [upgradeId, next, allowed, reason ?? null],
  );
  const status = rows[0]?.status;
  if (!status) throw new UpgradeRefused(`no upgrade ${upgradeId}`, 'not-found');
  if (status !== next) throw new UpgradeRefused(`upgrade ${upgradeId} is ${status}; it cannot ${action}`);
  if (action === 'resume') {
    // Resuming after the failure policy paused a finished wave accepts that wave's failures.
    await pool.query(
      `UPDATE provisioner.upgrades u SET waves_done = waves_done + 1
        WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM provisioner.upgrade_tenants t
                                       WHERE t.upgrade_id = u.id AND t.wave = u.waves_done
                                         AND t.status IN ('pending', 'running'))`,
      [upgradeId],
    );
  }
  if (action === 'cancel') {
    await pool.query(
      `UPDATE provisioner.upgrade_tenants SET status = 'skipped', error = 'cancelled' WHERE upgrade_id = $1 AND status = 'pending'`,
      [upgradeId],
    );
  }
  return status;
}

/**
 * A fleet rollback: the tenants the upgrade changed go back to the version they came from,
 * with the same waves, concurrency and failure policy.
 */
export async function createRollback(pool: Pool, upgradeId: string): Promise<string> {
  const progress = await readUpgrade(pool, upgradeId, { tenants: false });
  if (!progress) throw new UpgradeRefused(`no upgrade ${upgradeId}`, 'not-found');
  if (progress.status === 'running')
    throw new UpgradeRefused(`pause or cancel upgrade ${upgradeId} before rolling it back`);
  const { rows } = await pool.query<{ tenant_id: string; from_version: number }>(
    `SELECT tenant_id, from_version FROM provisioner.upgrade_tenants WHERE upgrade_id = $1 AND status = 'ok'`,
    [upgradeId],
  );
  const from = [...new Set(rows.map((r) => r.from_version))];
  if (from.length === 0) throw new UpgradeRefused(`upgrade ${upgradeId} changed no tenant`);
  if (from.length > 1) throw new UpgradeRefused(`upgrade ${upgradeId} changed tenants from several versions`);
  return createUpgrade(
    pool,
    { ...progress.spec, targetVersion: from[0], filters: {} },
    { tenantIds: rows.map((r) => r.tenant_id), rollbackOf: upgradeId },
  );
}

/**
 * Carry out an upgrade, wave by wave, from where it stands: tenants left `running` by a crash
 * are the only ones tried again (the data plane's version makes that harmless), tenants
 * finished are never touched again. Returns when the upgrade completes, pauses or is cancelled.
 */
export async function runUpgrade(
  deps: FleetUpgradeDeps,
  upgradeId: string,
  signal?: AbortSignal,
): Promise<UpgradeStatus> {
  const head = await readUpgrade(deps.pool, upgradeId, { tenants: false });
  if (!head) throw new UpgradeRefused(`no upgrade ${upgradeId}`, 'not-found');
  if (head.status !== 'running') return head.status;
  const retried = await deps.pool.query(
    `UPDATE provisioner.upgrade_tenants SET status = 'pending' WHERE upgrade_id = $1 AND status = 'running'`,
    [upgradeId],
  );
  if (retried.rowCount)
    deps.logger.info({ upgradeId, tenants: retried.rowCount }, 'upgrade resumed: retrying tenants in flight');
  const { spec } = head;
  const control = new StatusPoll(deps.pool, upgradeId);
  for (let wave = head.wavesDone; wave < spec.waves.length; wave++) {
    const { rows: pending } = await deps.pool.query<{
      tenant_id: string;
      from_version: number;
      cluster: string;
      region: string;
    }>(
      `SELECT tenant_id, from_version, region, cluster FROM provisioner.upgrade_tenants
        WHERE upgrade_id = $1 AND wave = $2 AND status = 'pending' ORDER BY ordinal`,
      [upgradeId, wave],
    );
    if (pending.length > 0) {
      const byCluster = new Map<string, typeof pending>();
      for (const row of pending) {
        const key = `${row.region}/${row.cluster}`;
        const queue = byCluster.get(key);
        if (queue) queue.push(row);
        else byCluster.set(key, [row]);
      }
      const perSecond = spec.maxTenantsPerSecond ?? deps.maxTenantsPerSecond ?? 0;
      const workers: Promise<void>[] = [];
      for (const queue of byCluster.values()) {
        // Each cluster's own pace: the CPU an upgrade takes is its database server's.
        const pace = new UpgradePace(perSecond);
        let next = 0;
        for (let w = 0; w < spec.concurrencyPerCluster; w++) {
          workers.push(
            (async () => {
              while (next < queue.length) {
                await pace.wait(signal);
                if (signal?.aborted || (await control.status()) !== 'running') return;
                const row = queue[next];
                if (!row) return;
                queue[next++] = undefined as never; // done with: nothing keeps finished tenants' rows
                await upgradeOne(deps, upgradeId, head.targetVersion, row);
              }
            })(),
          );
        }
      }
      await Promise.all(workers);
      const status = await control.status(true);
      if (signal?.aborted || status !== 'running') return status;
    }
    const { rows: counts } = await deps.pool.query<{ tenants: number; failed: number }>(
      `SELECT count(*)::int AS tenants, count(*) FILTER (WHERE status = 'failed')::int AS failed
         FROM provisioner.upgrade_tenants WHERE upgrade_id = $1 AND wave = $2 AND status <> 'skipped'`,
      [upgradeId, wave],
    );
    const verdict = judgeWave(
      { wave, tenants: counts[0]?.tenants ?? 0, failed: counts[0]?.failed ?? 0 },
      spec.failurePolicy,
    );
    if (verdict) {
      await setUpgradeStatus(deps.pool, upgradeId, 'pause', verdict);
      deps.logger.warn({ upgradeId, wave, reason: verdict }, 'upgrade paused by its failure policy');
      return 'paused';
    }
    await deps.pool.query('UPDATE provisioner.upgrades SET waves_done = $2 WHERE id = $1 AND waves_done < $2', [
      upgradeId,
      wave + 1,
    ]);
    const soak = spec.waves[wave]?.soakSeconds ?? 0;
    if (
      soak > 0 &&
      wave < spec.waves.length - 1 &&
      pending.length > 0 &&
      (await laterWaves(deps.pool, upgradeId, wave))
    ) {
      const until = Date.now() + soak * 1000;
      // A pause then resume (however quick) ends the soak: the operator has looked and lets it go on.
      const steered = await control.steeredAt();
      while (Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, until - Date.now())));
        const status = await control.status(true);
        if (signal?.aborted || status !== 'running') return status;
        if ((await control.steeredAt()) !== steered) break;
      }
    }
  }
  await deps.pool.query(
    `UPDATE provisioner.upgrades SET status = 'completed', updated_at = now() WHERE id = $1 AND status = 'running'`,
    [upgradeId],
  );
  return (await control.status(true)) ?? 'completed';
}

/** Whether a wave after this one has tenants to upgrade (a soak before nothing is no soak). */
async function laterWaves(pool: Pool, upgradeId: string, wave: number): Promise<boolean> {
  const { rowCount } = await pool.query(
    `SELECT 1 FROM provisioner.upgrade_tenants WHERE upgrade_id = $1 AND wave > $2 AND status = 'pending' LIMIT 1`,
    [upgradeId, wave],
  );
  return (rowCount ?? 0) > 0;
}

async function upgradeOne(
  deps: FleetUpgradeDeps,
  upgradeId: string,
  to: number,
  row: { tenant_id: string; from_version: number | null },
): Promise<void> {
  const tenantId = row.tenant_id;
  const finish = (status: TenantUpgradeStatus, fields: { error?: string; lockHeldMs?: number; from?: number }) =>
    deps.pool.query(
      `UPDATE provisioner.upgrade_tenants SET status = $3, error = $4, lock_held_ms = $5,
              from_version = coalesce(from_version, $6), finished_at = now()
        WHERE upgrade_id = $1 AND tenant_id = $2`,
      [upgradeId, tenantId, status, fields.error ?? null, fields.lockHeldMs ?? null, fields.from ?? null],
    );
  try {
    const { rows } = await deps.pool.query<Placement>(
      'SELECT region, cluster, kind, database, schema FROM provisioner.placements WHERE tenant_id = $1',
      [tenantId],
    );
    const placement = rows[0];
    if (!placement) throw new UpgradeRefused('the tenant has no placement any more');
    // The version before the change is recorded with "running", so a retry after a crash
    // (which finds the change made) still records where the tenant came from.
    let from = row.from_version;
    if (from === null) {
      from = (await schemaVersionOf(await deps.dataPlane.poolOf(placement), tenantId)) ?? null;
      if (from === null) throw new UpgradeRefused('the tenant has no workspace data source at its placement');
      if (from === to) {
        await finish('skipped', { error: `already at version ${to}`, from });
        return;
      }
    }
    await deps.pool.query(
      `UPDATE provisioner.upgrade_tenants SET status = 'running', from_version = $3, attempts = attempts + 1,
              started_at = now()
        WHERE upgrade_id = $1 AND tenant_id = $2`,
      [upgradeId, tenantId, from],
    );
    const changed = await upgradeTenant(deps, { tenantId, upgradeId, placement, from, to });
    await deps.afterTenant?.(tenantId);
    await finish('ok', { lockHeldMs: changed.lockHeldMs });
  } catch (error) {
    if (error instanceof WorkspaceArchived) {
      // Not a failure: an archived tenant has no schema to change; it comes back at its version.
      await finish('skipped', { error: 'archived: it keeps its version until it is restored' });
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    deps.logger.warn({ upgradeId, tenantId, err: error }, 'tenant upgrade failed; the tenant stays at its version');
    await finish('failed', { error: message.slice(0, 1000) });
  }
}

/** The upgrade's status, read at most every 250 ms while workers ask between tenants. */
class StatusPoll {
  private last = 0;
  private value: UpgradeStatus = 'running';
  constructor(
    private readonly pool: Pool,
    private readonly upgradeId: string,
  ) {}

  /** When an operator last paused, resumed or cancelled it (or it was created). */
  async steeredAt(): Promise<number> {
    const { rows } = await this.pool.query<{ updated_at: Date }>(
      'SELECT updated_at FROM provisioner.upgrades WHERE id = $1',
      [this.upgradeId],
    );
    return rows[0]?.updated_at.getTime() ?? 0;
  }

  async status(fresh = false): Promise<UpgradeStatus> {
    if (fresh || Date.now() - this.last > 250) {
      this.last = Date.now();
      const { rows } = await this.pool.query<{ status: UpgradeStatus }>(
        'SELECT status FROM provisioner.upgrades WHERE id = $1',
        [this.upgradeId],
      );
      this.value = rows[0]?.status ?? 'cancelled';
    }
    return this.value;
  }
}

/** Where an upgrade stands, with per-tenant rows when asked (the operation view). */
export async function readUpgrade(
  pool: Pool,
  upgradeId: string,
  options: { tenants: boolean | UpgradeTenantRows } = { tenants: true },
): Promise<UpgradeProgress | undefined> {
  const rowsWanted: UpgradeTenantRows =
    options.tenants === true ? 'all' : options.tenants === false ? 'none' : options.tenants;
  const { rows } = await pool.query<{
    target_version: number;
    spec: unknown;
    status: UpgradeStatus;
    status_reason: string | null;
    rollback_of: string | null;
    waves_done: number;
    created_at: Date;
    updated_at: Date;
  }>(
    `SELECT target_version, spec, status, status_reason, rollback_of, waves_done, created_at, updated_at
       FROM provisioner.upgrades WHERE id = $1`,
    [upgradeId],
  );
  const head = rows[0];
  if (!head) return undefined;
  const { rows: stats } = await pool.query<{
    status: TenantUpgradeStatus;
    n: number;
    first: Date | null;
    last: Date | null;
  }>(
    `SELECT status, count(*)::int AS n, min(started_at) AS first, max(finished_at) AS last
       FROM provisioner.upgrade_tenants WHERE upgrade_id = $1 GROUP BY status`,
    [upgradeId],
  );
  const counts: Record<TenantUpgradeStatus, number> = { pending: 0, running: 0, ok: 0, failed: 0, skipped: 0 };
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const s of stats) {
    counts[s.status] = s.n;
    if (s.first) first = Math.min(first, s.first.getTime());
    if (s.last) last = Math.max(last, s.last.getTime());
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const work = total - counts.skipped;
  const done = counts.ok + counts.failed;
  const elapsed = Number.isFinite(first) ? (head.status === 'running' ? Date.now() : last) - first : 0;
  const wanted = { all: null, unfinished: ['pending', 'running'], failed: ['failed'], none: null }[rowsWanted];
  const tenants =
    rowsWanted !== 'none'
      ? (
          await pool.query<{
            tenant_id: string;
            wave: number;
            status: TenantUpgradeStatus;
            error: string | null;
            lock_held_ms: number | null;
          }>(
            `SELECT tenant_id, wave, status, error, lock_held_ms FROM provisioner.upgrade_tenants
            WHERE upgrade_id = $1 AND ($2::text[] IS NULL OR status = ANY($2)) ORDER BY ordinal`,
            [upgradeId, wanted],
          )
        ).rows.map((r) => ({
          tenantId: r.tenant_id,
          wave: r.wave,
          status: r.status,
          error: r.error,
          lockHeldMs: r.lock_held_ms,
        }))
      : [];
  return {
    upgradeId,
    targetVersion: head.target_version,
    status: head.status,
    statusReason: head.status_reason,
    rollbackOf: head.rollback_of,
    spec: UpgradeSpec.parse(head.spec),
    wavesDone: head.waves_done,
    counts,
    total,
    ...estimate(done, work, elapsed),
    createdAt: head.created_at.toISOString(),
    updatedAt: head.updated_at.toISOString(),
    tenants,
  };
}
