import type { JetStreamClient } from '@nats-io/jetstream';
import {
  encodeMessage,
  type Granularity,
  type Meter,
  type MeterKind,
  Streams,
  Subjects,
  WindowClosed,
  windowClosedEventId,
} from '@ttm/contracts';
import { type Logger, type Pool, publishMessage } from '@ttm/service-kit';
import { Counter, type Registry } from 'prom-client';
import { usageConsumer } from '../ingest/usageConsumer.js';
import { closableBefore } from '../windows/windowMath.js';

export const SOURCE = '/ttm/metering';

export interface WindowCloserOptions {
  js: JetStreamClient;
  pool: Pool;
  logger: Logger;
  /** How long after a window's end usage may still arrive for it before it closes. */
  graceMs: number;
  now?: () => Date;
  metrics?: Registry;
  /** Test hook: after a page of windows was published and before it is marked published. */
  afterPublish?: (count: number) => void | Promise<void>;
}

interface ClosedWindowRow {
  tenant_id: string;
  meter: Meter;
  kind: MeterKind;
  granularity: Granularity;
  window_start: Date;
  window_end: Date;
  value: string;
}

const PAGE = 2_000;
const IN_FLIGHT = 256;

/**
 * Closes windows exactly once, in two steps:
 * 1. freeze: move the watermark `closed_before` to the last hour that ended (minus the grace
 *    period) once the usage consumer has counted everything published before it. Batches read
 *    the watermark FOR SHARE, so after this commits no batch adds to a frozen window again (late
 *    usage counts in the first open hour).
 * 2. publish: each frozen window not yet published goes to BILLING as a CloudEvent with the
 *    deterministic id `<tenantId>/<meter>/<granularity>/<windowStart>`, and is marked published
 *    once the stream acknowledged it. A crash between the two republishes the same event with
 *    the same id and value: JetStream drops it inside BILLING's duplicate window, and
 *    subscribers deduplicate on ce-id after that.
 */
export class WindowCloser {
  private readonly now: () => Date;
  private readonly closed: Counter<'granularity'> | undefined;
  /** The round in progress: rounds of one process run one after another, never side by side. */
  private round: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: WindowCloserOptions) {
    this.now = options.now ?? (() => new Date());
    if (options.metrics) {
      this.closed = new Counter({
        name: 'metering_windows_closed_total',
        help: 'Usage windows published on BILLING, by granularity',
        labelNames: ['granularity'],
        registers: [options.metrics],
      });
    }
  }

  /**
   * One round: advance the watermark if it may, then publish every frozen window. A round asked
   * for while another runs (the schedule's and an operator's `closeNow`) starts after it ends, so
   * each round's figures are its own and its clock is read when it starts.
   */
  closeDue(): Promise<{ closedBefore: Date | null; published: number }> {
    const next = this.round
      .catch(() => undefined)
      .then(async () => {
        const closedBefore = await this.advanceWatermark();
        const published = await this.publishFrozen();
        return { closedBefore, published };
      });
    this.round = next;
    return next;
  }

  private async advanceWatermark(): Promise<Date | null> {
    const { pool, logger, graceMs } = this.options;
    const now = this.now();
    const candidate = closableBefore(now, graceMs);
    const { rows } = await pool.query<{ closed_before: Date | null }>(
      'SELECT closed_before FROM metering.close_watermark',
    );
    const current = rows[0]?.closed_before ?? null;
    if (current && current.getTime() >= candidate.getTime()) return current;
    const countedUntil = new Date(Math.min(now.getTime(), candidate.getTime() + graceMs));
    if (!(await this.usageCountedUntil(countedUntil))) {
      logger.info({ candidate, countedUntil }, 'usage published before the window end is not counted yet; not closing');
      return current;
    }
    await pool.query(
      `UPDATE metering.close_watermark SET closed_before = $1
        WHERE closed_before IS NULL OR closed_before < $1`,
      [candidate.toISOString()],
    );
    logger.info({ closedBefore: candidate }, 'windows frozen');
    return candidate;
  }

  /**
   * True when every usage message published before `until` has been counted: nothing is waiting
   * or in hand, or the oldest message not yet acknowledged was published at or after `until`.
   */
  private async usageCountedUntil(until: Date): Promise<boolean> {
    const jsm = await this.options.js.jetstreamManager(false);
    const info = await jsm.consumers.info(usageConsumer.stream, usageConsumer.durable);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return true;
    try {
      const oldest = await jsm.streams.getMessage(Streams.USAGE, { seq: info.ack_floor.stream_seq + 1 });
      return oldest !== null && oldest.time.getTime() >= until.getTime();
    } catch {
      return false;
    }
  }

  private async publishFrozen(): Promise<number> {
    const { pool } = this.options;
    let total = 0;
    for (;;) {
      const { rows } = await pool.query<ClosedWindowRow>(
        `SELECT tenant_id, meter, kind, granularity, window_start, window_end, value
           FROM metering.usage_windows
          WHERE published_at IS NULL
            AND window_end <= (SELECT closed_before FROM metering.close_watermark)
          ORDER BY window_end, tenant_id, meter, granularity
          LIMIT ${PAGE}`,
      );
      if (rows.length === 0) return total;
      const published = await this.publishPage(rows);
      await this.options.afterPublish?.(published.length);
      await pool.query(
        `UPDATE metering.usage_windows AS w SET published_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS p(tenant_id, meter, granularity, window_start)
          WHERE w.tenant_id = p.tenant_id AND w.meter = p.meter AND w.granularity = p.granularity
            AND w.window_start = p.window_start`,
        [
          published.map((r) => r.tenant_id),
          published.map((r) => r.meter),
          published.map((r) => r.granularity),
          published.map((r) => r.window_start.toISOString()),
        ],
      );
      for (const row of published) this.closed?.inc({ granularity: row.granularity });
      total += published.length;
      if (published.length < rows.length) {
        throw new Error(
          `${rows.length - published.length} closed windows could not be published on ${Streams.BILLING}; retrying next round`,
        );
      }
    }
  }

  /** Publish a page with a bounded number in flight; returns the rows BILLING acknowledged. */
  private async publishPage(rows: ClosedWindowRow[]): Promise<ClosedWindowRow[]> {
    const { js, logger } = this.options;
    const acknowledged: ClosedWindowRow[] = [];
    let failure: unknown;
    for (let i = 0; i < rows.length; i += IN_FLIGHT) {
      await Promise.all(
        rows.slice(i, i + IN_FLIGHT).map(async (row) => {
          const windowStart = row.window_start.toISOString();
          const message = encodeMessage(
            WindowClosed,
            {
              tenantId: row.tenant_id,
              meter: row.meter,
              kind: row.kind,
              granularity: row.granularity,
              windowStart,
              windowEnd: row.window_end.toISOString(),
              value: Number(row.value),
            },
            {
              source: SOURCE,
              id: windowClosedEventId(row.tenant_id, row.meter, row.granularity, windowStart),
              subject: row.tenant_id,
              time: row.window_end,
            },
          );
          try {
            await publishMessage(js, Subjects.billing(row.tenant_id, row.meter), message);
            acknowledged.push(row);
          } catch (error) {
            failure ??= error;
          }
        }),
      );
    }
    if (failure) logger.warn({ err: failure }, 'publishing closed windows failed for some; they stay unpublished');
    return acknowledged;
  }
}
