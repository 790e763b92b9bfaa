import type { JetStreamClient } from '@nats-io/jetstream';
import { ArchiveTenantWorkspace, encodeMessage } from '@ttm/contracts';
import { type Catalog, type Logger, pause, publishMessage } from '@ttm/service-kit';
import type pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { SOURCE } from '../backups/aggregate.js';
import { BACKUP_SCHEMA } from '../shared/index.js';
import {
  assessIdleness,
  type IdleAssessment,
  type IdlePolicy,
  idleArchiveId,
  type TenantActivity,
} from './idleness.js';

/** The actor of archives the sweep asks for. */
export const IDLE_SWEEP_ACTOR = { kind: 'system', id: 'idle-sweep' } as const;

export interface IdleSweepMetrics {
  /** Archives of idle tenants the sweep asked for. */
  requested: Counter;
  /** Tenants idle past their plan's days at the last sweep (asked for or not yet). */
  candidates: Gauge;
}

export function createIdleSweepMetrics(registry: Registry): IdleSweepMetrics {
  const registers = [registry];
  return {
    requested: new Counter({
      name: 'backup_idle_archives_requested_total',
      help: "Archives of idle tenants (no sign-in or API call for their plan's archiveIdleDays) the idle sweep asked for",
      registers,
    }),
    candidates: new Gauge({
      name: 'backup_idle_archive_candidates',
      help: 'Active tenants idle past their plan days at the last idle sweep (archive asked for or waiting its turn)',
      registers,
    }),
  };
}

export interface IdleSweepDeps {
  js: JetStreamClient;
  pool: pg.Pool;
  catalog: Catalog;
  logger: Logger;
  metrics: IdleSweepMetrics;
  /** `IDLE_ARCHIVE_MAX_PER_SWEEP`. */
  maxPerSweep: number;
  /** `IDLE_ARCHIVE_RETRY_AFTER`. */
  retryAfterMs: number;
}

export interface TenantIdleness {
  tenant: TenantActivity;
  assessment: IdleAssessment;
}

export function idlePolicyOf(deps: Pick<IdleSweepDeps, 'catalog' | 'retryAfterMs'>): IdlePolicy {
  return {
    idleDaysOf: (plan) => deps.catalog.plan(plan)?.archiveIdleDays ?? 0,
    retryAfterMs: deps.retryAfterMs,
  };
}

interface ActivityRow {
  tenant_id: string;
  plan: string;
  status: string;
  active_since: Date | null;
  last_api_call_at: Date | null;
  last_sign_in_at: Date | null;
  migrating: boolean;
  last_requested_at: Date | null;
}

/** What the service knows of the activity of its tenants (`tenantIds`: only those; else every active one). */
export async function readTenantActivity(pool: pg.Pool, tenantIds?: string[]): Promise<TenantActivity[]> {
  const { rows } = await pool.query<ActivityRow>(
    `SELECT t.tenant_id, t.plan, t.status, t.active_since, a.last_api_call_at, a.last_sign_in_at,
            EXISTS (SELECT 1 FROM ${BACKUP_SCHEMA}.migrations m
                     WHERE m.tenant_id = t.tenant_id AND m.status = 'running') AS migrating,
            (SELECT max(r.requested_at) FROM ${BACKUP_SCHEMA}.idle_archives r
              WHERE r.tenant_id = t.tenant_id) AS last_requested_at
       FROM ${BACKUP_SCHEMA}.tenants t
       LEFT JOIN ${BACKUP_SCHEMA}.tenant_activity a ON a.tenant_id = t.tenant_id
      WHERE ($1::uuid[] IS NULL AND t.status = 'active') OR t.tenant_id = ANY($1::uuid[])
      ORDER BY t.tenant_id`,
    [tenantIds ?? null],
  );
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    plan: r.plan,
    status: r.status,
    activeSince: r.active_since,
    lastApiCallAt: r.last_api_call_at,
    lastSignInAt: r.last_sign_in_at,
    migrating: r.migrating,
    lastRequestedAt: r.last_requested_at,
  }));
}

/** Every active tenant with what the sweep makes of it at `now`. */
export async function assessFleet(deps: IdleSweepDeps, now: Date): Promise<TenantIdleness[]> {
  const policy = idlePolicyOf(deps);
  return (await readTenantActivity(deps.pool)).map((tenant) => ({
    tenant,
    assessment: assessIdleness(tenant, policy, now),
  }));
}

export interface SweepOutcome {
  /** Tenants idle past their plan's days (asked for before, or now, or left for the next sweep). */
  candidates: number;
  /** Archive ids asked for by this sweep. */
  requested: { tenantId: string; archiveId: string }[];
}

/**
 * One sweep: ask the backup service's own archive (`ttm.backup.archive-tenant.v1`, reason `idle`)
 * for at most `maxPerSweep` idle tenants, longest idle first. The request is recorded before the
 * command is sent, under an id derived from the tenant, its last activity and the retry slot: a
 * second sweeper (or this one restarted) finds the row and sends nothing, and the archive saga
 * takes one archive id once. A crash between the row and the command asks again after
 * `retryAfterMs`, as does an archive that did not happen (refused, failed backup).
 */
export async function sweepIdleTenants(deps: IdleSweepDeps, now: Date): Promise<SweepOutcome> {
  const idle = (await assessFleet(deps, now))
    .filter((t) => t.assessment.kind === 'idle' || t.assessment.kind === 'archive-asked')
    .sort((a, b) => idleAtOf(a) - idleAtOf(b));
  deps.metrics.candidates.set(idle.length);
  const requested: SweepOutcome['requested'] = [];
  for (const { tenant, assessment } of idle) {
    if (requested.length >= deps.maxPerSweep) break;
    if (assessment.kind !== 'idle') continue;
    const archiveId = idleArchiveId(tenant.tenantId, assessment.lastActivityAt, now, deps.retryAfterMs);
    const { rowCount } = await deps.pool.query(
      `INSERT INTO ${BACKUP_SCHEMA}.idle_archives (archive_id, tenant_id, last_activity_at, requested_at)
       VALUES ($1, $2, $3, $4) ON CONFLICT (archive_id) DO NOTHING`,
      [archiveId, tenant.tenantId, assessment.lastActivityAt, now],
    );
    if (rowCount === 0) continue;
    try {
      await publishMessage(
        deps.js,
        ArchiveTenantWorkspace.subject,
        encodeMessage(
          ArchiveTenantWorkspace,
          {
            archiveId,
            tenantId: tenant.tenantId,
            reason: 'idle',
            actor: IDLE_SWEEP_ACTOR,
            requestedAt: now.toISOString(),
          },
          { source: SOURCE, subject: tenant.tenantId, id: `archive/${archiveId}` },
        ),
      );
    } catch (error) {
      // Not sent: forget the request so the next sweep asks again.
      await deps.pool.query(`DELETE FROM ${BACKUP_SCHEMA}.idle_archives WHERE archive_id = $1`, [archiveId]);
      throw error;
    }
    deps.metrics.requested.inc();
    deps.logger.info(
      {
        tenantId: tenant.tenantId,
        archiveId,
        plan: tenant.plan,
        lastActivityAt: assessment.lastActivityAt.toISOString(),
        idleDays: idlePolicyOf(deps).idleDaysOf(tenant.plan),
      },
      'idle tenant: archive requested',
    );
    requested.push({ tenantId: tenant.tenantId, archiveId });
  }
  return { candidates: idle.length, requested };
}

function idleAtOf(t: TenantIdleness): number {
  return 'idleAt' in t.assessment ? t.assessment.idleAt.getTime() : 0;
}

/** Sweep every `everyMs` (0: idle archiving is off) until `signal` aborts; a failed sweep is logged and retried next time. */
export async function runIdleSweep(
  deps: IdleSweepDeps,
  everyMs: number,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<void> {
  if (everyMs <= 0) return;
  while (!signal.aborted) {
    try {
      const outcome = await sweepIdleTenants(deps, now());
      if (outcome.requested.length > 0 || outcome.candidates > 0) {
        deps.logger.info({ candidates: outcome.candidates, requested: outcome.requested.length }, 'idle sweep done');
      }
    } catch (error) {
      if (!signal.aborted) deps.logger.warn({ err: error }, 'idle sweep failed; trying again at the next sweep');
    }
    await pause(everyMs, signal);
  }
}
