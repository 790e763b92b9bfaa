import { Consumers, consumerDefinition, WindowClosed } from '@ttm/contracts';
import { onMany, type ProjectionDefinition, setAppliers } from '@ttm/service-kit';
import { Counter, type Registry } from 'prom-client';
import type { QuotaBook } from '../enforcement/quotaBook.js';
import { QUOTA_SCHEMA } from '../overrides/projection.js';

const consumer = consumerDefinition(Consumers.quotaBilling);

/**
 * Settles each closed month of a count meter (api_calls) against the limit in force: the final
 * usage of the period, and whether (and how far) it went past a hard limit, which the gateway's
 * enforcement delay allows. Hourly and daily windows and gauges are not settled.
 */
export function settlementProjection(book: QuotaBook, metrics?: Registry): ProjectionDefinition {
  const settled = metrics
    ? new Counter({
        name: 'quota_settled_periods_total',
        help: 'Closed months settled against their limit, by meter and outcome (within, over)',
        labelNames: ['meter', 'outcome'],
        registers: [metrics],
      })
    : undefined;
  // Insert-only rows keyed by tenant, meter and month: a batch's closed months go in one statement
  // (set-based: `setAppliers`), which answers the rows it settled.
  const appliers = setAppliers([
    onMany(WindowClosed, async (events, client) => {
      const rows = events
        .map(({ data: e }) => e)
        .filter((e) => e.granularity === 'month' && e.kind === 'count')
        .map((e) => ({
          tenant_id: e.tenantId,
          meter: e.meter,
          period_start: e.windowStart,
          used: e.value,
          quota_limit: book.limitOf(e.tenantId, e.meter) ?? null,
        }));
      if (rows.length === 0) return;
      const inserted = await client.query<{ meter: string; used: string; quota_limit: string | null }>(
        `INSERT INTO ${QUOTA_SCHEMA}.settled_periods (tenant_id, meter, period_start, used, quota_limit)
         SELECT tenant_id, meter, period_start, used, quota_limit
           FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, meter text, period_start timestamptz, used bigint,
                quota_limit bigint)
         ON CONFLICT DO NOTHING
         RETURNING meter, used, quota_limit`,
        [JSON.stringify(rows)],
      );
      for (const row of inserted.rows) {
        const over = row.quota_limit !== null && Number(row.used) > Number(row.quota_limit);
        settled?.inc({ meter: row.meter, outcome: over ? 'over' : 'within' });
      }
    }),
  ]);
  return {
    name: 'quota-settlement',
    schema: QUOTA_SCHEMA,
    consumer,
    apply: appliers.apply,
    applyMany: appliers.applyMany,
    async reset(client) {
      await client.query(`TRUNCATE ${QUOTA_SCHEMA}.settled_periods`);
    },
  };
}
