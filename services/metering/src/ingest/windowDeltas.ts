import type { Granularity, Meter, MeterKind } from '@ttm/contracts';
import { countingTimeMs, dayStartMs, hourStartMs, windowEnd, windowStart } from '../windows/windowMath.js';

/** One usage message, as metering counts it. */
export interface UsageRecord {
  tenantId: string;
  meter: Meter;
  kind: MeterKind;
  value: number;
  /** When the usage happened, epoch milliseconds. */
  at: number;
  dedupKey: string;
}

/** What a batch adds to one window: a sum for counts, a peak and a latest sample for gauges. */
export interface WindowDelta {
  tenantId: string;
  meter: Meter;
  kind: MeterKind;
  granularity: Granularity;
  start: Date;
  end: Date;
  value: number;
  lastValue: number;
  lastAt: Date;
}

/** The identity of a usage message: its dedup key, namespaced by tenant and meter. */
export function usageKey(tenantId: string, meter: string, dedupKey: string): string {
  return `${tenantId}|${meter}|${dedupKey}`;
}

/**
 * Drop repeats of a key inside one batch (the first one counts). The order does not matter for
 * the keys' inserts: two batches only wait on each other over the same key, a duplicate, and a
 * deadlock between them is retried.
 */
export function uniqueByKey(records: UsageRecord[]): UsageRecord[] {
  const seen = new Set<string>();
  const unique: UsageRecord[] = [];
  for (const record of records) {
    const key = usageKey(record.tenantId, record.meter, record.dedupKey);
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(record);
  }
  return unique;
}

interface Fold {
  value: number;
  lastValue: number;
  lastAt: number;
}

const GRANULARITIES = ['hour', 'day', 'month'] as const;

/**
 * Fold usage into the hour, day and month windows it counts in (see `countingTime`). Pure and
 * commutative: any split of the same records into batches, in any order, adds up to the same
 * windows. Sorted by tenant, meter, granularity and start, so concurrent batches lock rows in
 * one order.
 */
export function windowDeltas(records: UsageRecord[], closedBefore: Date | null, now: Date): WindowDelta[] {
  const closed = closedBefore?.getTime() ?? null;
  const nowMs = now.getTime();
  // tenant|meter -> kind and one map per granularity: window start (ms) -> fold.
  const series = new Map<string, { tenantId: string; meter: Meter; kind: MeterKind; windows: Map<number, Fold>[] }>();
  const months = new Map<number, number>();
  for (const record of records) {
    const at = countingTimeMs(record.at, closed, nowMs);
    const day = dayStartMs(at);
    let month = months.get(day);
    if (month === undefined) {
      month = windowStart('month', new Date(day)).getTime();
      months.set(day, month);
    }
    const key = `${record.tenantId}|${record.meter}`;
    let entry = series.get(key);
    if (!entry) {
      entry = {
        tenantId: record.tenantId,
        meter: record.meter,
        kind: record.kind,
        windows: [new Map(), new Map(), new Map()],
      };
      series.set(key, entry);
    }
    const starts = [hourStartMs(at), day, month];
    for (let g = 0; g < 3; g++) {
      const windows = entry.windows[g]!;
      const start = starts[g]!;
      const fold = windows.get(start);
      if (!fold) {
        windows.set(start, { value: record.value, lastValue: record.value, lastAt: at });
        continue;
      }
      fold.value = record.kind === 'count' ? fold.value + record.value : Math.max(fold.value, record.value);
      if (at >= fold.lastAt) {
        fold.lastAt = at;
        fold.lastValue = record.kind === 'count' ? fold.value : record.value;
      }
    }
  }
  const deltas: WindowDelta[] = [];
  for (const key of [...series.keys()].sort()) {
    const entry = series.get(key)!;
    for (let g = 0; g < 3; g++) {
      const granularity = GRANULARITIES[g]!;
      for (const [start, fold] of [...entry.windows[g]!.entries()].sort(([a], [b]) => a - b)) {
        const startDate = new Date(start);
        deltas.push({
          tenantId: entry.tenantId,
          meter: entry.meter,
          kind: entry.kind,
          granularity,
          start: startDate,
          end: windowEnd(granularity, startDate),
          value: fold.value,
          lastValue: fold.lastValue,
          lastAt: new Date(fold.lastAt),
        });
      }
    }
  }
  return deltas;
}
