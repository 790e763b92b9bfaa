import { Buckets, type UsageTotal, usageTotalKey } from '@ttm/contracts';
import type { Logger, Pool } from '@ttm/service-kit';
import { type MonthTotal, type MonthTotalRow, monthTotalOf } from '../ingest/applyBatch.js';
import { monthOf } from '../windows/windowMath.js';
import { kvPutSubject, type PipelinedPublisher } from './pipelinedPublisher.js';

/**
 * Keeps the KV bucket `ttm-usage-totals` up to date: after each batch, the month totals it
 * touched are marked and put, at most once per `intervalMs` (the first change after a quiet
 * interval goes out at once, later ones wait for the interval to end). Coalescing keeps the
 * bucket's writes to one per tenant and meter per interval however many batches counted; the
 * quota service watches the bucket, so it sees usage at most `intervalMs` after its batch committed.
 */
export class UsageTotalsPublisher {
  private dirty = new Map<string, UsageTotal>();
  /** The last total put per key, so a late report of an older total is not put over a newer one. */
  private readonly published = new Map<string, UsageTotal>();
  private timer: NodeJS.Timeout | undefined;
  private lastFlush = 0;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly publisher: PipelinedPublisher,
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Mark the month totals of a batch; only the current month's are published. */
  record(totals: MonthTotal[]): void {
    const month = monthOf(this.now()).getTime();
    for (const total of totals) {
      if (total.period.getTime() !== month) continue;
      const entry = toUsageTotal(total, this.now());
      const key = usageTotalKey(entry.tenantId, entry.meter);
      // Batches commit concurrently and report in any order: never replace a total by an older one.
      const known = this.dirty.get(key) ?? this.published.get(key);
      if (known && !isNewer(entry, known)) continue;
      this.dirty.set(key, entry);
    }
    this.schedule(this.intervalMs);
  }

  /** Flush once the interval since the last flush started has passed (at once after a quiet spell). */
  private schedule(intervalMs: number): void {
    if (this.dirty.size === 0 || this.timer) return;
    const wait = Math.max(0, this.lastFlush + intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, wait);
  }

  /** Publish every current-month total from the database: at start, after a crash that lost marks. */
  async republishMonth(pool: Pool): Promise<number> {
    const { rows } = await pool.query<MonthTotalRow>(
      `SELECT tenant_id, meter, kind, window_start, value, last_value, last_at FROM metering.usage_windows
        WHERE granularity = 'month' AND window_start = $1`,
      [monthOf(this.now()).toISOString()],
    );
    this.record(rows.map(monthTotalOf));
    await this.flush();
    return rows.length;
  }

  /** Put every marked total; a failed put stays marked for the next round (unless a newer value replaced it). */
  flush(): Promise<void> {
    this.flushing ??= this.putMarked().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }

  private async putMarked(): Promise<void> {
    this.lastFlush = Date.now();
    const batch = this.dirty;
    this.dirty = new Map();
    const entries = [...batch.entries()];
    let failed = 0;
    for (let i = 0; i < entries.length; i += 2_000) {
      await Promise.all(
        entries.slice(i, i + 2_000).map(async ([key, total]) => {
          try {
            await this.publisher.publish(kvPutSubject(Buckets.usageTotals, key), JSON.stringify(total));
            const known = this.published.get(key);
            if (!known || isNewer(total, known)) this.published.set(key, total);
          } catch (error) {
            failed++;
            if (!this.dirty.has(key)) this.dirty.set(key, total);
            if (failed === 1) this.logger.warn({ err: error, key }, 'could not publish a usage total; will retry');
          }
        }),
      );
    }
    this.schedule(failed > 0 ? Math.max(this.intervalMs, 1_000) : this.intervalMs);
  }
}

/** Counts only grow within a month; a gauge's newer sample wins. */
function isNewer(candidate: UsageTotal, known: UsageTotal): boolean {
  if (candidate.period !== known.period) return candidate.period > known.period;
  if (candidate.kind === 'count') return candidate.value > known.value;
  return candidate.at >= known.at;
}

function toUsageTotal(total: MonthTotal, now: Date): UsageTotal {
  const gauge = total.kind === 'gauge';
  return {
    tenantId: total.tenantId,
    meter: total.meter,
    kind: total.kind,
    period: total.period.toISOString(),
    value: gauge ? total.lastValue : total.value,
    at: (gauge ? total.lastAt : now).toISOString(),
  };
}
