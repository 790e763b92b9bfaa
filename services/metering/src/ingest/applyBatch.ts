import type { Meter, MeterKind } from '@ttm/contracts';
import type { PoolClient } from '@ttm/service-kit';
import { type UsageRecord, uniqueByKey, windowDeltas } from './windowDeltas.js';

/** A tenant's month after a batch: what the usage-totals bucket publishes. */
export interface MonthTotal {
  tenantId: string;
  meter: Meter;
  kind: MeterKind;
  period: Date;
  /** count: the month's sum; gauge: the month's peak. */
  value: number;
  /** gauge: the latest sample of the month. */
  lastValue: number;
  lastAt: Date;
}

/** A month row of `metering.usage_windows`, selected as `tenant_id, meter, kind, window_start, value, last_value, last_at`. */
export interface MonthTotalRow {
  tenant_id: string;
  meter: Meter;
  kind: MeterKind;
  window_start: Date;
  value: string;
  last_value: string;
  last_at: Date;
}

export function monthTotalOf(row: MonthTotalRow): MonthTotal {
  return {
    tenantId: row.tenant_id,
    meter: row.meter,
    kind: row.kind,
    period: row.window_start,
    value: Number(row.value),
    lastValue: Number(row.last_value),
    lastAt: row.last_at,
  };
}

export interface BatchOutcome {
  /** Messages counted now. */
  applied: number;
  /** Messages whose key was already counted (a redelivery or a republish). */
  duplicates: number;
  monthTotals: MonthTotal[];
}

/**
 * Count one batch, inside the caller's transaction: record each key (`ON CONFLICT DO NOTHING`
 * keeps only keys never seen), then add only those records to their windows. The transaction
 * commits the keys and the totals together, so a batch is counted entirely or not at all, and a
 * message delivered again (after a crash before the ack, or republished) is never counted twice.
 */
export async function applyUsageBatch(client: PoolClient, records: UsageRecord[], now: Date): Promise<BatchOutcome> {
  const unique = uniqueByKey(records);
  // FOR SHARE: the closer cannot move the watermark (and freeze windows) while this batch writes.
  const { rows: mark } = await client.query<{ closed_before: Date | null }>(
    'SELECT closed_before FROM metering.close_watermark FOR SHARE',
  );
  const closedBefore = mark[0]?.closed_before ?? null;

  // Parameters as one JSON document each: JSON.stringify is native, pg's array escaping is not.
  const keys = keysJson(unique);
  const counted = await recordKeys(client, unique, keys);
  const outcome: BatchOutcome = {
    applied: counted.length,
    duplicates: records.length - counted.length,
    monthTotals: [],
  };
  if (counted.length === 0) return outcome;

  const deltas = windowDeltas(counted, closedBefore, now);
  const { rows } = await client.query<MonthTotalRow>(
    `WITH upserted AS (
       INSERT INTO metering.usage_windows AS w
         (tenant_id, meter, kind, granularity, window_start, window_end, value, last_value, last_at)
       SELECT t, m, k, g, s, e, v, lv, la
         FROM json_to_recordset($1::json)
           AS d(t uuid, m text, k text, g text, s timestamptz, e timestamptz, v bigint, lv bigint, la timestamptz)
       ON CONFLICT (tenant_id, meter, granularity, window_start) DO UPDATE SET
         value = CASE WHEN w.kind = 'count' THEN w.value + excluded.value ELSE greatest(w.value, excluded.value) END,
         last_value = CASE
           WHEN w.kind = 'count' THEN w.value + excluded.value
           WHEN excluded.last_at >= w.last_at THEN excluded.last_value
           ELSE w.last_value END,
         last_at = greatest(w.last_at, excluded.last_at),
         updated_at = now()
       RETURNING w.tenant_id, w.meter, w.kind, w.granularity, w.window_start, w.value, w.last_value, w.last_at
     )
     SELECT tenant_id, meter, kind, window_start, value, last_value, last_at FROM upserted WHERE granularity = 'month'`,
    [
      JSON.stringify(
        deltas.map((d) => ({
          t: d.tenantId,
          m: d.meter,
          k: d.kind,
          g: d.granularity,
          s: d.start,
          e: d.end,
          v: d.value,
          lv: d.lastValue,
          la: d.lastAt,
        })),
      ),
    ],
  );
  outcome.monthTotals = rows.map(monthTotalOf);
  return outcome;
}

/**
 * Record the batch's keys and return the records whose key is new. Duplicates are rare (a
 * redelivery, a republish), so the batch is first inserted plainly under a savepoint: if every
 * key was new, that is all. Otherwise it is rolled back and inserted again by a statement that
 * names the keys already counted (the slower path: it joins the batch with what was inserted).
 */
async function recordKeys(client: PoolClient, unique: UsageRecord[], keys: string): Promise<UsageRecord[]> {
  await client.query('SAVEPOINT usage_keys');
  const inserted = await client.query(
    `INSERT INTO metering.usage_dedup (tenant_id, meter, dedup_key)
     SELECT t, m, k FROM json_to_recordset($1::json) AS r(t uuid, m text, k text)
     ON CONFLICT DO NOTHING`,
    [keys],
  );
  if (inserted.rowCount === unique.length) {
    await client.query('RELEASE SAVEPOINT usage_keys');
    return unique;
  }
  await client.query('ROLLBACK TO SAVEPOINT usage_keys');
  const { rows: seen } = await client.query<{ i: string }>(
    `WITH incoming AS (
       SELECT * FROM ROWS FROM (json_to_recordset($1::json) AS (t uuid, m text, k text)) WITH ORDINALITY AS r(t, m, k, i)
     ), fresh AS (
       INSERT INTO metering.usage_dedup (tenant_id, meter, dedup_key)
       SELECT t, m, k FROM incoming
       ON CONFLICT DO NOTHING
       RETURNING tenant_id, meter, dedup_key
     )
     SELECT i FROM incoming
      WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.tenant_id = t AND f.meter = m AND f.dedup_key = k)`,
    [keys],
  );
  const duplicate = new Set(seen.map((r) => Number(r.i) - 1));
  return unique.filter((_, i) => !duplicate.has(i));
}

/** `[{"t":tenant,"m":meter,"k":key},...]`, written directly: no object per record on the hot path. */
function keysJson(records: UsageRecord[]): string {
  const parts = new Array<string>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    // Tenant ids are uuids and meters an enum (both checked on decode); only the key needs escaping.
    parts[i] = `{"t":"${r.tenantId}","m":"${r.meter}","k":${JSON.stringify(r.dedupKey)}}`;
  }
  return `[${parts.join(',')}]`;
}
