import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeMessage, type Meter, Subjects, UsageRecorded, usageEventId } from '@ttm/contracts';
import type { DataPlanePools } from '@ttm/data-plane';
import { type Logger, type Pool, publishMessage } from '@ttm/service-kit';
import { Counter, type Registry } from 'prom-client';
import { SOURCE } from '../closing/windowCloser.js';

export interface TenantSample {
  tenantId: string;
  storageBytes: number;
  users: number;
}

interface PlacedTenant {
  tenant_id: string;
  region: string;
  cluster: string;
  placement_kind: 'schema' | 'database';
  database: string;
  schema: string;
}

/**
 * Samples each placed tenant's storage and user count and publishes them as usage (gauges) on
 * USAGE, where they are counted like any other usage:
 * - storage: the total size (tables, indexes, TOAST) of the workspace schema's relations, or
 *   `pg_database_size` for a tenant with a dedicated database;
 * - users: `core."userWorkspace"` rows of the workspace that are not deleted.
 * One query per database and measure covers all of its tenants.
 *
 * Measuring sizes costs PostgreSQL a file-size lookup per relation (≈ 20 per workspace), which
 * grows with the fleet; a size only changes when the tenant writes. So between full samples
 * (every `fullEvery`, and whenever asked, `sampleAll({ full: true })`) only the tenants that
 * called the API since the previous sample, moved, or were never measured by this instance are
 * measured again; the others are published at the size measured last. A change that comes
 * without an API call (a restore, an upgrade) shows at the next full sample.
 */
export class UsageSampler {
  private readonly failures: Counter<'database'> | undefined;
  private readonly measuredTenants: Counter<'mode'> | undefined;
  /** Storage measured last, by tenant, with where it was measured. */
  private readonly sizes = new Map<string, { bytes: number; at: string }>();
  /** When the previous sample started, and the previous full one. */
  private previous: Date | undefined;
  private previousFull = 0;

  constructor(
    private readonly options: {
      js: JetStreamClient;
      pool: Pool;
      reader: DataPlanePools;
      logger: Logger;
      now?: () => Date;
      metrics?: Registry;
      /** How often every tenant's size is measured again, written to or not (default 1 h). */
      fullEveryMs?: number;
    },
  ) {
    if (options.metrics) {
      this.failures = new Counter({
        name: 'metering_sample_failures_total',
        help: 'Databases whose tenants could not be sampled, by database',
        labelNames: ['database'],
        registers: [options.metrics],
      });
      this.measuredTenants = new Counter({
        name: 'metering_sample_measured_tenants_total',
        help: 'Tenants whose storage a sample measured (full: every tenant; changed: those that called the API or moved since the last sample)',
        labelNames: ['mode'],
        registers: [options.metrics],
      });
    }
  }

  /** Sample every active or suspended tenant with a placement, and publish the samples. */
  async sampleAll(options: { full?: boolean } = {}): Promise<TenantSample[]> {
    const started = (this.options.now ?? (() => new Date()))();
    const { rows } = await this.options.pool.query<PlacedTenant>(
      `SELECT tenant_id, region, cluster, placement_kind, database, schema FROM metering.tenants
        WHERE status IN ('active', 'suspended') AND database IS NOT NULL ORDER BY tenant_id`,
    );
    const full =
      options.full === true ||
      this.previous === undefined ||
      started.getTime() - this.previousFull >= (this.options.fullEveryMs ?? 3_600_000);
    const called = full || !this.previous ? new Set<string>() : await this.calledSince(this.previous);
    const byDatabase = new Map<string, PlacedTenant[]>();
    for (const row of rows) {
      const key = `${row.region}/${row.cluster}/${row.database}`;
      const group = byDatabase.get(key);
      if (group) group.push(row);
      else byDatabase.set(key, [row]);
    }
    const samples: TenantSample[] = [];
    let measured = 0;
    for (const [database, tenants] of byDatabase) {
      const toMeasure = full
        ? tenants
        : tenants.filter((t) => called.has(t.tenant_id) || this.sizes.get(t.tenant_id)?.at !== placementOf(t));
      measured += toMeasure.length;
      try {
        samples.push(...(await this.sampleDatabase(tenants, new Set(toMeasure.map((t) => t.tenant_id)))));
      } catch (error) {
        this.failures?.inc({ database });
        this.options.logger.warn(
          { err: error, database, tenants: tenants.length },
          'sampling a data-plane database failed; its tenants keep their last samples',
        );
      }
    }
    this.measuredTenants?.inc({ mode: full ? 'full' : 'changed' }, measured);
    this.previous = started;
    if (full) this.previousFull = started.getTime();
    await this.publish(samples, (this.options.now ?? (() => new Date()))());
    return samples;
  }

  /**
   * Tenants whose API calls were counted since `since` (their open hourly windows changed); a
   * minute earlier, for a batch whose transaction began before `since` and committed after.
   */
  private async calledSince(since: Date): Promise<Set<string>> {
    const { rows } = await this.options.pool.query<{ tenant_id: string }>(
      `SELECT DISTINCT tenant_id FROM metering.usage_windows
        WHERE published_at IS NULL AND window_end > $1::timestamptz - interval '1 day'
          AND meter = 'api_calls' AND granularity = 'hour'
          AND updated_at >= $1::timestamptz - interval '1 minute'`,
      [since],
    );
    return new Set(rows.map((r) => r.tenant_id));
  }

  /** Sizes of the tenants in `measure` (the others keep the size measured last), users of all. */
  private async sampleDatabase(tenants: PlacedTenant[], measure: ReadonlySet<string>): Promise<TenantSample[]> {
    const first = tenants[0]!;
    const pool = this.options.reader.poolFor(first);
    const storage = new Map<string, number>();
    for (const t of tenants) {
      const known = this.sizes.get(t.tenant_id);
      if (!measure.has(t.tenant_id) && known) storage.set(t.tenant_id, known.bytes);
    }
    const schemaTenants = tenants.filter((t) => t.placement_kind === 'schema' && measure.has(t.tenant_id));
    if (schemaTenants.length > 0) {
      const { rows } = await pool.query<{ schema: string; bytes: string }>(
        `SELECT n.nspname AS schema, sum(pg_total_relation_size(c.oid))::bigint AS bytes
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'm')
          GROUP BY n.nspname`,
        [schemaTenants.map((t) => t.schema)],
      );
      const bySchema = new Map(rows.map((r) => [r.schema, Number(r.bytes)]));
      for (const t of schemaTenants) storage.set(t.tenant_id, bySchema.get(t.schema) ?? 0);
    }
    if (tenants.some((t) => t.placement_kind === 'database' && measure.has(t.tenant_id))) {
      const { rows } = await pool.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
      for (const t of tenants) if (t.placement_kind === 'database') storage.set(t.tenant_id, Number(rows[0]!.bytes));
    }
    for (const t of tenants) {
      if (measure.has(t.tenant_id))
        this.sizes.set(t.tenant_id, { bytes: storage.get(t.tenant_id) ?? 0, at: placementOf(t) });
    }
    const { rows: users } = await pool.query<{ workspace_id: string; users: number }>(
      `SELECT "workspaceId"::text AS workspace_id, count(*)::int AS users FROM core."userWorkspace"
        WHERE "workspaceId" = ANY($1::uuid[]) AND "deletedAt" IS NULL GROUP BY "workspaceId"`,
      [tenants.map((t) => t.tenant_id)],
    );
    const userCounts = new Map(users.map((r) => [r.workspace_id, r.users]));
    return tenants.map((t) => ({
      tenantId: t.tenant_id,
      storageBytes: storage.get(t.tenant_id) ?? 0,
      users: userCounts.get(t.tenant_id) ?? 0,
    }));
  }

  private async publish(samples: TenantSample[], at: Date): Promise<void> {
    // One key per sample time: a second instance sampling too adds a sample, never a count.
    const dedupKey = `sample:${at.toISOString()}`;
    const messages = samples.flatMap((s) => [
      gauge(s.tenantId, 'storage_bytes', s.storageBytes, at, dedupKey),
      gauge(s.tenantId, 'users', s.users, at, dedupKey),
    ]);
    for (let i = 0; i < messages.length; i += 256) {
      await Promise.all(
        messages.slice(i, i + 256).map(({ subject, message }) => publishMessage(this.options.js, subject, message)),
      );
    }
  }
}

function gauge(tenantId: string, meter: Meter, value: number, at: Date, dedupKey: string) {
  return {
    subject: Subjects.usage(tenantId, meter),
    message: encodeMessage(
      UsageRecorded,
      { tenantId, meter, kind: 'gauge', value, at: at.toISOString(), dedupKey },
      { source: SOURCE, id: usageEventId(tenantId, meter, dedupKey), subject: tenantId, time: at },
    ),
  };
}

/** Where a tenant's data lives: a size measured elsewhere does not count after a move. */
function placementOf(t: PlacedTenant): string {
  return `${t.region}/${t.cluster}/${t.database}/${t.schema}`;
}
