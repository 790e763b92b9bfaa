import { Consumers, consumerDefinition, WindowClosed } from '@ttm/contracts';
import { isMessage, type ProjectionDefinition } from '@ttm/service-kit';
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
  return {
    name: 'quota-settlement',
    schema: QUOTA_SCHEMA,
    consumer,
    async apply(client, event) {
      if (!isMessage(event, WindowClosed)) return;
      const e = event.data;
      if (e.granularity !== 'month' || e.kind !== 'count') return;
      const limit = book.limitOf(e.tenantId, e.meter) ?? null;
      const { rowCount } = await client.query(
        `INSERT INTO ${QUOTA_SCHEMA}.settled_periods (tenant_id, meter, period_start, used, quota_limit)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [e.tenantId, e.meter, e.windowStart, e.value, limit],
      );
      if (rowCount) settled?.inc({ meter: e.meter, outcome: limit !== null && e.value > limit ? 'over' : 'within' });
    },
    async reset(client) {
      await client.query(`TRUNCATE ${QUOTA_SCHEMA}.settled_periods`);
    },
  };
}
