import { Consumers, consumerDefinition, type QuotaLimitOverrides, QuotaNames, QuotasOverridden } from '@ttm/contracts';
import { isMessage, type Pool, type ProjectionDefinition } from '@ttm/service-kit';
import type { LimitOverrides } from '../enforcement/quotaBook.js';

export const QUOTA_SCHEMA = 'quota';

const consumer = consumerDefinition(Consumers.quotaEvents);

/**
 * The overrides in force per tenant, from the `ttm.quota.overridden.v1` events (the notices on
 * the same subjects are quota's own output and need no projection). `onOverridden` is told which
 * tenant changed once its transaction committed.
 */
export function overridesProjection(onOverridden: (tenantId: string) => void): {
  projection: ProjectionDefinition;
  onApplied: () => void;
} {
  let changed: string | undefined;
  const projection: ProjectionDefinition = {
    name: 'quota-overrides',
    schema: QUOTA_SCHEMA,
    consumer,
    async apply(client, event) {
      changed = undefined;
      if (!isMessage(event, QuotasOverridden)) return;
      const e = event.data;
      // An absent limit keeps its override, null restores the plan's, a number replaces it.
      const column = (name: keyof QuotaLimitOverrides, param: number) =>
        `${name} = ${e.limits[name] === undefined ? `o.${name}` : `$${param}::bigint`}`;
      await client.query(
        `INSERT INTO ${QUOTA_SCHEMA}.overrides AS o
           (tenant_id, storage_bytes, users, api_calls_per_month, updated_at, last_event_seq)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id) DO UPDATE SET
           ${column('storage_bytes', 2)}, ${column('users', 3)}, ${column('api_calls_per_month', 4)},
           updated_at = excluded.updated_at, last_event_seq = excluded.last_event_seq`,
        [
          e.tenantId,
          e.limits.storage_bytes ?? null,
          e.limits.users ?? null,
          e.limits.api_calls_per_month ?? null,
          e.overriddenAt,
          event.seq,
        ],
      );
      changed = e.tenantId;
    },
    async reset(client) {
      await client.query(`TRUNCATE ${QUOTA_SCHEMA}.overrides`);
    },
  };
  return {
    projection,
    onApplied: () => {
      if (changed) onOverridden(changed);
      changed = undefined;
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
