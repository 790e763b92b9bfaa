import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { ProvisioningFailed, Streams, TenantRegistered } from '@ttm/contracts';
import type { Logger, Pool, ReceivedEvent } from '@ttm/service-kit';
import type { Registry } from 'prom-client';
import { projections } from '../../projections.js';
import { searchAuditLog } from '../audit/auditLog.js';
import type { BackupIndex } from '../backups/backupIndex.js';
import { type BackupView, operationOf } from '../backups/view.js';
import type { ConsumerBacklog } from '../fleet/backlog.js';
import { provisioningQueueDepth } from '../fleet/stats.js';
import type { MigrationIndex } from '../migrations/migrationIndex.js';
import type { MigrationOperation } from '../migrations/view.js';
import { provisioningOperation } from '../operations/operation.js';
import type { DirectoryEntry, TenantDirectory } from '../tenants/directory.js';
import { alertsOf, round, TrafficWindow } from './overview.js';
import type {
  Alert,
  AuditLine,
  Counts,
  LiveOperation,
  LiveUpgrade,
  Overview,
  Sample,
  SnapshotData,
  TenantSummary,
  TickData,
} from './protocol.js';

export interface LiveSources {
  directory: TenantDirectory;
  backups: BackupIndex;
  migrations: MigrationIndex;
  backlog: ConsumerBacklog;
  js: JetStreamClient;
  pool: Pool;
  metrics: Registry;
  logger: Logger;
  /** The most recent fleet upgrades (from the provisioner), read only while `watched()`. */
  upgrades: () => Promise<LiveUpgrade[]>;
  /** Whether a client is connected: nothing else needs the upgrades read. */
  watched: () => boolean;
}

export interface LiveAggregatorOptions {
  /** How often a tick is produced (at most one message per client per tick). */
  tickMs?: number;
  /** How often the slow numbers (NATS, PostgreSQL, counters) are read. */
  refreshMs?: number;
  /** How often a chart sample is taken; an hour of them is kept. */
  sampleEveryMs?: number;
  /** Tenants one tick carries at most; more set `tenants_truncated`. */
  maxTenantsPerTick?: number;
}

/** How long an ended operation stays on the overview. */
const ENDED_OPERATION_KEPT_MS = 60_000;
const HOUR_MS = 3_600_000;

/**
 * The dashboard's server-side aggregate: fleet counts from the tenant directory, operations from
 * the directory and the backup and migration indexes, traffic from the request hook, the rest
 * read every `refreshMs` (queue, projection lag, dead letters, audit, counters). It produces one
 * `TickData` per `tickMs` however busy the fleet is, so a socket carries a few messages per second.
 */
export class LiveAggregator {
  readonly tickMs: number;
  private readonly refreshMs: number;
  private readonly sampleEveryMs: number;
  private readonly maxTenantsPerTick: number;
  private readonly traffic = new TrafficWindow();
  private readonly changedTenants = new Set<string>();
  private readonly operations = new Map<string, LiveOperation>();
  private readonly changedOperations = new Set<string>();
  /** The last upgrades read, as JSON, to send only those that changed. */
  private readonly upgradesSeen = new Map<string, string>();
  private readonly changedUpgrades = new Map<string, LiveUpgrade>();
  private readingUpgrades = false;
  private registrations: number[] = [];
  private failures: number[] = [];
  private history: Sample[] = [];
  private pendingSample: Sample | null = null;
  private lastSampleAt = 0;
  private counters = { limited: 0, quotaRefusals: 0, quotaWarnings: 0, quotaExceeded: 0 };
  private previousRefusals: { at: number; total: number } | undefined;
  private refusalsPerSecond = 0;
  private slow: Pick<Overview, 'provisioning_queue' | 'projection_lag' | 'dead_letters' | 'audit'> = {
    provisioning_queue: null,
    projection_lag: {},
    dead_letters: null,
    audit: [],
  };
  private alerts: Alert[] = [];
  private jsm: JetStreamManager | undefined;
  private readonly listeners = new Set<(tick: TickData) => void>();

  constructor(
    private readonly sources: LiveSources,
    options: LiveAggregatorOptions = {},
  ) {
    this.tickMs = options.tickMs ?? 500;
    this.refreshMs = options.refreshMs ?? 1_000;
    this.sampleEveryMs = options.sampleEveryMs ?? 10_000;
    this.maxTenantsPerTick = options.maxTenantsPerTick ?? 500;
  }

  /** Follow the sources and tick until `signal` aborts. */
  start(signal: AbortSignal): void {
    const { directory, backups, migrations } = this.sources;
    const onTenant = (entry: DirectoryEntry, event: ReceivedEvent) => this.tenantChanged(entry, event);
    const onBackup = (view: BackupView) => this.backupChanged(view);
    const onMigration = (operation: MigrationOperation) => this.migrationChanged(operation);
    directory.on('change', onTenant);
    backups.on('change', onBackup);
    migrations.on('change', onMigration);
    const ticking = setInterval(() => this.tick(), this.tickMs);
    const refreshing = setInterval(() => void this.refresh(), this.refreshMs);
    void this.refresh();
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(ticking);
        clearInterval(refreshing);
        directory.off('change', onTenant);
        backups.off('change', onBackup);
        migrations.off('change', onMigration);
      },
      { once: true },
    );
  }

  /** Called by the request hook for every tenant request. */
  recordRequest(tenantId: string, ms: number): void {
    this.traffic.record(tenantId, ms, Date.now());
  }

  onTick(listener: (tick: TickData) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): SnapshotData {
    this.pruneOperations(Date.now());
    return { overview: this.overview(), operations: [...this.operations.values()], history: [...this.history] };
  }

  /** Produce the tick now (the interval calls it; tests may too). */
  tick(): void {
    const now = Date.now();
    this.pruneOperations(now);
    if (now - this.lastSampleAt >= this.sampleEveryMs) this.takeSample(now);
    const changed = [...this.changedTenants];
    this.changedTenants.clear();
    const truncated = changed.length > this.maxTenantsPerTick;
    const tenants = truncated
      ? []
      : changed.flatMap((id) => {
          const entry = this.sources.directory.get(id);
          return entry ? [summaryOf(entry)] : [];
        });
    const operations = [...this.changedOperations].flatMap((id) => {
      const operation = this.operations.get(id);
      return operation ? [operation] : [];
    });
    this.changedOperations.clear();
    const upgrades = [...this.changedUpgrades.values()];
    this.changedUpgrades.clear();
    const tick: TickData = {
      overview: this.overview(),
      operations,
      tenants,
      tenants_truncated: truncated,
      upgrades,
      sample: this.pendingSample,
    };
    this.pendingSample = null;
    for (const listener of this.listeners) {
      try {
        listener(tick);
      } catch (error) {
        this.sources.logger.error({ err: error }, 'a live stream listener failed');
      }
    }
  }

  private overview(): Overview {
    const now = Date.now();
    const byStatus: Counts = {};
    const byPlan: Counts = {};
    const byRegion: Counts = {};
    let total = 0;
    for (const entry of this.sources.directory.entries()) {
      total++;
      byStatus[entry.status] = (byStatus[entry.status] ?? 0) + 1;
      byPlan[entry.plan] = (byPlan[entry.plan] ?? 0) + 1;
      byRegion[entry.region] = (byRegion[entry.region] ?? 0) + 1;
    }
    this.registrations = this.registrations.filter((at) => at > now - 60_000);
    this.failures = this.failures.filter((at) => at > now - HOUR_MS);
    this.alerts = alertsOf(
      { ...this.slow, refusals_per_s: this.refusalsPerSecond, failed_last_hour: this.failures.length },
      this.alerts,
      new Date(now).toISOString(),
    );
    return {
      tenants: { total, by_status: byStatus, by_plan: byPlan, by_region: byRegion },
      registrations_per_min: this.registrations.length,
      provisioning_queue: this.slow.provisioning_queue,
      requests: this.traffic.summary(now),
      limits: {
        rate_limited: this.counters.limited,
        quota_refusals: this.counters.quotaRefusals,
        quota_warnings: this.counters.quotaWarnings,
        quota_exceeded: this.counters.quotaExceeded,
      },
      alerts: this.alerts,
      projection_lag: this.slow.projection_lag,
      dead_letters: this.slow.dead_letters,
      audit: this.slow.audit,
    };
  }

  private takeSample(now: number): void {
    this.lastSampleAt = now;
    let active = 0;
    let total = 0;
    for (const entry of this.sources.directory.entries()) {
      total++;
      if (entry.status === 'active') active++;
    }
    const sample: Sample = {
      at: new Date(now).toISOString(),
      tenants: total,
      active,
      registrations_per_min: this.registrations.filter((at) => at > now - 60_000).length,
      requests_per_s: this.traffic.summary(now).rate,
      refusals_per_s: this.refusalsPerSecond,
      queue: this.slow.provisioning_queue,
    };
    this.history.push(sample);
    const oldest = now - HOUR_MS;
    while (this.history.length > 0 && Date.parse(this.history[0]!.at) < oldest) this.history.shift();
    this.pendingSample = sample;
  }

  private tenantChanged(entry: DirectoryEntry, event: ReceivedEvent): void {
    this.changedTenants.add(entry.tenantId);
    const now = Date.now();
    if (event.meta.type === TenantRegistered.type) this.registrations.push(now);
    if (event.meta.type === ProvisioningFailed.type) this.failures.push(now);
    const times = this.operations.get(entry.provisioningId);
    const operation = provisioningOperation(entry, {
      startedAt: times?.started_at ?? event.meta.time,
      updatedAt: event.meta.time,
    });
    if (operation.status === 'succeeded' && !times) return; // suspensions and the like of old tenants
    this.upsert({ ...operation, kind: 'provisioning' });
  }

  private backupChanged(view: BackupView): void {
    const recent = Date.now() - ENDED_OPERATION_KEPT_MS;
    const ids = [view.id, ...view.restores.map((restore) => restore.id)];
    for (const id of ids) {
      const operation = operationOf(view, id);
      if (!operation) continue;
      if (
        operation.status === 'running' ||
        operation.status === 'pending' ||
        Date.parse(operation.updated_at) > recent
      ) {
        this.upsert(liveOf(operation));
      }
    }
  }

  private migrationChanged(operation: MigrationOperation): void {
    const recent = Date.now() - ENDED_OPERATION_KEPT_MS;
    if (operation.status === 'running' || Date.parse(operation.updated_at) > recent) this.upsert(liveOf(operation));
  }

  private upsert(operation: LiveOperation): void {
    const known = this.operations.get(operation.id);
    if (
      known &&
      known.status === operation.status &&
      known.progress === operation.progress &&
      known.step === operation.step
    ) {
      return;
    }
    this.operations.set(operation.id, operation);
    this.changedOperations.add(operation.id);
  }

  private pruneOperations(now: number): void {
    for (const [id, operation] of this.operations) {
      const ended = operation.status === 'succeeded' || operation.status === 'failed';
      if (ended && Date.parse(operation.updated_at) < now - ENDED_OPERATION_KEPT_MS) this.operations.delete(id);
    }
  }

  /** The numbers read from NATS, PostgreSQL and the metrics registry; a failed read keeps the last value. */
  private async refresh(): Promise<void> {
    const { backlog, logger } = this.sources;
    const kept = (what: string) => (error: unknown) => {
      logger.debug({ err: error, what }, 'dashboard value not refreshed; keeping the last one');
      return undefined;
    };
    const [queue, lags, deadLetters, audit] = await Promise.all([
      provisioningQueueDepth(backlog).catch(kept('provisioning queue')),
      Promise.all(
        projections.map(async (projection) => {
          const lag = await backlog
            .pending(projection.consumer.stream, projection.consumer.durable)
            .catch(kept('projection lag'));
          return [projection.name, lag ?? this.slow.projection_lag[projection.name] ?? null] as const;
        }),
      ),
      this.deadLetters().catch(kept('dead letters')),
      searchAuditLog(this.sources.pool, { limit: 12 })
        .then((page) => page.items.map(auditLineOf))
        .catch(kept('audit')),
    ]);
    this.slow = {
      provisioning_queue: queue ?? this.slow.provisioning_queue,
      projection_lag: Object.fromEntries(lags),
      dead_letters: deadLetters ?? this.slow.dead_letters,
      audit: audit ?? this.slow.audit,
    };
    await this.readCounters().catch(kept('counters'));
    if (this.sources.watched()) await this.readUpgrades().catch(kept('upgrades'));
  }

  /** Read the recent upgrades (one read at a time) and keep those that changed for the next tick. */
  private async readUpgrades(): Promise<void> {
    if (this.readingUpgrades) return;
    this.readingUpgrades = true;
    try {
      for (const upgrade of await this.sources.upgrades()) {
        const json = JSON.stringify(upgrade);
        if (this.upgradesSeen.get(upgrade.upgradeId) === json) continue;
        this.upgradesSeen.set(upgrade.upgradeId, json);
        this.changedUpgrades.set(upgrade.upgradeId, upgrade);
      }
    } finally {
      this.readingUpgrades = false;
    }
  }

  private async deadLetters(): Promise<number> {
    this.jsm ??= await this.sources.js.jetstreamManager(false);
    const info = await this.jsm.streams.info(Streams.DEADLETTER);
    return info.state.messages;
  }

  private async readCounters(): Promise<void> {
    const sum = async (name: string, labels: Record<string, string> = {}) => {
      const metric = this.sources.metrics.getSingleMetric(name);
      if (!metric) return 0;
      const { values } = await metric.get();
      return values
        .filter((value) => Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted))
        .reduce((total, value) => total + value.value, 0);
    };
    const [limited, quotaRefusals, quotaWarnings, quotaExceeded] = await Promise.all([
      sum('gateway_tenant_requests_total', { outcome: 'limited' }),
      sum('gateway_quota_refusals_total'),
      sum('gateway_quota_state_changes_total', { state: 'warning' }),
      sum('gateway_quota_state_changes_total', { state: 'exceeded' }),
    ]);
    this.counters = { limited, quotaRefusals, quotaWarnings, quotaExceeded };
    const now = Date.now();
    const refusals = limited + quotaRefusals;
    if (this.previousRefusals && now > this.previousRefusals.at) {
      this.refusalsPerSecond = round(
        ((refusals - this.previousRefusals.total) * 1_000) / (now - this.previousRefusals.at),
      );
    }
    this.previousRefusals = { at: now, total: refusals };
  }
}

export function summaryOf(entry: DirectoryEntry): TenantSummary {
  return {
    id: entry.tenantId,
    organization_name: entry.organizationName,
    slug: entry.slug,
    admin_email: entry.adminEmail,
    plan: entry.plan,
    region: entry.region,
    status: entry.status,
    progress: entry.status === 'active' || entry.status === 'suspended' ? 100 : entry.progress,
  };
}

function liveOf(operation: {
  id: string;
  kind: LiveOperation['kind'];
  tenant_id: string;
  status: LiveOperation['status'];
  progress: number;
  step: string | null;
  started_at: string;
  updated_at: string;
  error?: string;
}): LiveOperation {
  return {
    id: operation.id,
    kind: operation.kind,
    tenant_id: operation.tenant_id,
    status: operation.status,
    progress: operation.progress,
    step: operation.step,
    started_at: operation.started_at,
    updated_at: operation.updated_at,
    ...(operation.error ? { error: operation.error } : {}),
  };
}

function auditLineOf(item: {
  id: string;
  time: string;
  actor: { kind: string; id: string };
  action: string;
  scope: string;
  target: string | null;
  outcome: 'success' | 'failure';
}): AuditLine {
  return {
    id: item.id,
    time: item.time,
    actor: `${item.actor.kind}:${item.actor.id}`,
    action: item.action,
    scope: item.scope,
    target: item.target,
    outcome: item.outcome,
  };
}
