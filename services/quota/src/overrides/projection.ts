import { Consumers, consumerDefinition, type QuotaLimitOverrides, QuotaNames, QuotasOverridden } from '@ttm/contracts';
import { onMany, type Pool, type ProjectionDefinition, setAppliers } from '@ttm/service-kit';
import type { LimitOverrides } from '../enforcement/quotaBook.js';

export const QUOTA_SCHEMA = 'quota';

const consumer = consumerDefinition(Consumers.quotaEvents);

/**
 * The overrides in force per tenant, from the `ttm.quota.overridden.v1` events (the notices on
 * the same subjects are quota's own output and need no projection). `onOverridden` is told which
 * tenants changed once their transaction committed. Each statement is keyed by tenant, so a
 * batch applies its overrides in two statements (set-based: `setAppliers`).
 */
export function overridesProjection(onOverridden: (tenantId: string) => void): {
  projection: ProjectionDefinition;
  onApplied: () => void;
} {
  // Tenants of the batches applied since the last `onApplied` (one of a rolled-back attempt only
  // costs a reload of what is committed).
  const changed = new Set<string>();
  const appliers = setAppliers([
    onMany(QuotasOverridden, async (events, client) => {
      // An absent limit keeps its override, null restores the plan's, a number replaces it.
      const rows = events.map(({ data: e, seq }) => ({
        tenant_id: e.tenantId,
        ...Object.fromEntries(QuotaNames.map((name) => [name, e.limits[name] ?? null])),
        ...Object.fromEntries(QuotaNames.map((name) => [`keep_${name}`, e.limits[name] === undefined])),
        updated_at: e.overriddenAt,
        seq,
      }));
      const recordset = `jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, storage_bytes bigint, users bigint,
              api_calls_per_month bigint, keep_storage_bytes boolean, keep_users boolean,
              keep_api_calls_per_month boolean, updated_at timestamptz, seq bigint)`;
      const keepOr = (name: keyof QuotaLimitOverrides) =>
        `${name} = CASE WHEN r.keep_${name} THEN o.${name} ELSE r.${name} END`;
      // A tenant's first override inserts its row (absent limits NULL); the update then gives it the same values.
      await client.query(
        `INSERT INTO ${QUOTA_SCHEMA}.overrides (tenant_id, storage_bytes, users, api_calls_per_month, updated_at, last_event_seq)
         SELECT tenant_id, storage_bytes, users, api_calls_per_month, updated_at, seq FROM ${recordset}
         ON CONFLICT (tenant_id) DO NOTHING`,
        [JSON.stringify(rows)],
      );
      await client.query(
        `UPDATE ${QUOTA_SCHEMA}.overrides o
            SET ${keepOr('storage_bytes')}, ${keepOr('users')}, ${keepOr('api_calls_per_month')},
                updated_at = r.updated_at, last_event_seq = r.seq
           FROM ${recordset}
          WHERE o.tenant_id = r.tenant_id`,
        [JSON.stringify(rows)],
      );
      for (const event of events) changed.add(event.data.tenantId);
    }),
  ]);
  const projection: ProjectionDefinition = {
    name: 'quota-overrides',
    schema: QUOTA_SCHEMA,
    consumer,
    apply: appliers.apply,
    applyMany: appliers.applyMany,
    async reset(client) {
      await client.query(`TRUNCATE ${QUOTA_SCHEMA}.overrides`);
    },
  };
  return {
    projection,
    onApplied: () => {
      for (const tenantId of changed) onOverridden(tenantId);
      changed.clear();
    },
  };
}

/** The overrides stored for tenants (all of them, or one). */
export async function readOverrides(pool: Pool, tenantId?: string): Promise<Map<string, LimitOverrides>> {
  const { rows } = await pool.query<Record<(typeof QuotaNames)[number], string | null> & { tenant_id: string }>(
    `SELECT tenant_id, storage_bytes, users, api_calls_per_month FROM ${QUOTA_SCHEMA}.overrides
      ${tenantId ? 'WHERE tenant_id = $1' : ''}`,
    tenantId ? [tenantId] : [],
  );
  const result = new Map<string, LimitOverrides>();
  for (const row of rows) {
    const overrides: LimitOverrides = {};
    for (const name of QuotaNames) if (row[name] !== null) overrides[name] = Number(row[name]);
    result.set(row.tenant_id, overrides);
  }
  return result;
}
