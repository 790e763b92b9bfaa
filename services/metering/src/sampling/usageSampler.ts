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
 */
export class UsageSampler {
  private readonly failures: Counter<'database'> | undefined;

  constructor(
    private readonly options: {
      js: JetStreamClient;
      pool: Pool;
      reader: DataPlanePools;
      logger: Logger;
      now?: () => Date;
      metrics?: Registry;
    },
  ) {
    if (options.metrics) {
      this.failures = new Counter({
        name: 'metering_sample_failures_total',
        help: 'Databases whose tenants could not be sampled, by database',
        labelNames: ['database'],
        registers: [options.metrics],
      });
    }
  }

  /** Sample every active or suspended tenant with a placement, and publish the samples. */
  async sampleAll(): Promise<TenantSample[]> {
    const { rows } = await this.options.pool.query<PlacedTenant>(
      `SELECT tenant_id, region, cluster, placement_kind, database, schema FROM metering.tenants
        WHERE status IN ('active', 'suspended') AND database IS NOT NULL ORDER BY tenant_id`,
    );
    const byDatabase = new Map<string, PlacedTenant[]>();
    for (const row of rows) {
      const key = `${row.region}/${row.cluster}/${row.database}`;
      byDatabase.set(key, [...(byDatabase.get(key) ?? []), row]);
    }
    const samples: TenantSample[] = [];
    for (const [database, tenants] of byDatabase) {
      try {
        samples.push(...(await this.sampleDatabase(tenants)));
      } catch (error) {
        this.failures?.inc({ database });
        this.options.logger.warn(
          { err: error, database, tenants: tenants.length },
          'sampling a data-plane database failed; its tenants keep their last samples',
        );
      }
    }
    await this.publish(samples, (this.options.now ?? (() => new Date()))());
    return samples;
  }

  private async sampleDatabase(tenants: PlacedTenant[]): Promise<TenantSample[]> {
    const first = tenants[0]!;
    const pool = this.options.reader.poolFor(first);
    const storage = new Map<string, number>();
    const schemaTenants = tenants.filter((t) => t.placement_kind === 'schema');
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
    if (tenants.some((t) => t.placement_kind === 'database')) {
      const { rows } = await pool.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
      for (const t of tenants) if (t.placement_kind === 'database') storage.set(t.tenant_id, Number(rows[0]!.bytes));
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
