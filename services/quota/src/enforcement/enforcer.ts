import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  type DataOf,
  definitionOf,
  encodeMessage,
  type Meter,
  Meters,
  meterKinds,
  QuotaCleared,
  QuotaExceeded,
  type QuotaStateEntry,
  QuotaStateKeys,
  QuotaWarning,
  Subjects,
} from '@ttm/contracts';
import { inTransaction, type Logger, type Pool, publishMessage } from '@ttm/service-kit';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { assess, type MeterRecord, type Notice, noticeId } from './assess.js';
import type { QuotaBook, TenantReadings } from './quotaBook.js';

export const SOURCE = '/ttm/quota';

export interface EnforcerOptions {
  js: JetStreamClient;
  pool: Pool;
  /** The `ttm-quota-state` bucket: `<tenantId>.state` is written here. */
  quotaState: KV;
  book: QuotaBook;
  logger: Logger;
  thresholdPercent: number;
  /** How long changes are gathered before the tenants they touched are evaluated. */
  delayMs: number;
  /** Least time between two state writes of a tenant whose levels and limits did not change. */
  refreshMs: number;
  now?: () => Date;
  metrics?: Registry;
}

type Records = Partial<Record<Meter, MeterRecord>>;

interface MeterStateRow {
  tenant_id: string;
  meter: Meter;
  window_start: Date;
  level: MeterRecord['level'];
  quota_limit: string;
  used: string;
  last_notified: MeterRecord['lastNotified'];
  notified: string[];
}

/**
 * Turns usage and limits into enforcement, event-driven: a change marks its tenant, and marked
 * tenants are evaluated at once, or, while changes keep coming, at most every `delayMs`. A level change (or a notice to send) is decided
 * again inside a transaction that locks the tenant's meter rows, stored with its notices
 * (an outbox keyed by deterministic ids), the notices published on `evt.quota.<tenantId>`, and
 * the tenant's `<tenantId>.state` written at once. A change of `used` alone is written at most
 * every `refreshMs`.
 */
export class Enforcer {
  private readonly dirty = new Set<string>();
  private readonly records = new Map<string, Records>();
  /** Per tenant: the levels and limits last written, and when. */
  private readonly written = new Map<string, { levels: string; used: string; at: number }>();
  private readonly waitingForRefresh = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private lastRound = 0;
  private running: Promise<void> | undefined;
  private readonly now: () => Date;
  private readonly stateChanges: Counter<'meter' | 'state'> | undefined;
  private readonly notices: Counter<'type'> | undefined;
  private readonly delay: Histogram | undefined;

  constructor(private readonly options: EnforcerOptions) {
    this.now = options.now ?? (() => new Date());
    if (options.metrics) {
      const registers = [options.metrics];
      this.stateChanges = new Counter({
        name: 'quota_state_changes_total',
        help: 'Changes of a meter enforcement state, by meter and new state',
        labelNames: ['meter', 'state'],
        registers,
      });
      this.notices = new Counter({
        name: 'quota_notices_total',
        help: 'Quota notices published (warning, exceeded, cleared)',
        labelNames: ['type'],
        registers,
      });
      this.delay = new Histogram({
        name: 'quota_enforcement_delay_seconds',
        help: 'From metering publishing a usage total to quota writing the state it changed',
        buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5],
        registers,
      });
      const records = this.records;
      new Gauge({
        name: 'quota_meters',
        help: 'Tenant meters in each enforcement state now (ok, warning, exceeded), by meter',
        labelNames: ['meter', 'state'],
        registers,
        collect() {
          this.reset();
          const counts = new Map<string, number>();
          for (const meter of Meters)
            for (const level of ['ok', 'warning', 'exceeded']) counts.set(`${meter}/${level}`, 0);
          for (const tenant of records.values()) {
            for (const meter of Meters) {
              const level = tenant[meter]?.level;
              if (level) counts.set(`${meter}/${level}`, (counts.get(`${meter}/${level}`) ?? 0) + 1);
            }
          }
          for (const [key, count] of counts) {
            const [meter, state] = key.split('/') as [string, string];
            this.set({ meter, state }, count);
          }
        },
      });
    }
  }

  /** Load the meter states kept in the database (at start). */
  async load(): Promise<void> {
    const { rows } = await this.options.pool.query<MeterStateRow>(
      `SELECT tenant_id, meter, window_start, level, quota_limit, used, last_notified, notified FROM quota.meter_states`,
    );
    for (const row of rows) {
      const records = this.records.get(row.tenant_id) ?? {};
      records[row.meter] = toRecord(row);
      this.records.set(row.tenant_id, records);
    }
  }

  /** A tenant's usage or limits changed: evaluate it soon. */
  mark(tenantId: string): void {
    this.dirty.add(tenantId);
    this.schedule();
  }

  markAll(): void {
    for (const tenantId of this.options.book.tenantIds()) this.dirty.add(tenantId);
    for (const tenantId of this.records.keys()) this.dirty.add(tenantId);
    this.schedule();
  }

  /** Evaluate every marked tenant now (and wait for a round in progress). */
  async evaluateNow(): Promise<void> {
    await this.running;
    this.running = this.evaluate().finally(() => {
      this.running = undefined;
    });
    await this.running;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Evaluate at once after a quiet spell; while changes keep coming, at most every `delayMs`. */
  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastRound + this.options.delayMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.running) {
        // A round is in progress: the marks wait for the next one.
        void this.running.then(() => this.schedule());
        return;
      }
      void this.evaluateNow().catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'evaluating quotas failed; retrying');
        this.schedule();
      });
    }, wait);
    this.timer.unref?.();
  }

  private async evaluate(): Promise<void> {
    this.lastRound = Date.now();
    const tenants = [...this.dirty];
    this.dirty.clear();
    const failed: string[] = [];
    for (let i = 0; i < tenants.length; i += 64) {
      await Promise.all(
        tenants.slice(i, i + 64).map((tenantId) =>
          this.evaluateTenant(tenantId).catch((error: unknown) => {
            failed.push(tenantId);
            this.options.logger.warn({ err: error, tenantId }, 'evaluating a tenant failed; will retry');
          }),
        ),
      );
    }
    if (failed.length > 0) {
      setTimeout(() => {
        for (const tenantId of failed) this.mark(tenantId);
      }, 1_000).unref();
    }
  }

  private async evaluateTenant(tenantId: string): Promise<void> {
    const { book, quotaState, thresholdPercent } = this.options;
    const now = this.now();
    const readings = book.readings(tenantId, now);
    if (!readings) {
      // The plan's limits are gone (provisioning compensated): nothing is enforced any more.
      if (this.written.delete(tenantId)) await quotaState.delete(QuotaStateKeys.state(tenantId));
      return;
    }
    const cached = this.records.get(tenantId) ?? {};
    keepKnownUsage(readings, cached);
    const transition = Meters.some((meter) => {
      const previous = cached[meter];
      const { record, notices } = assess(previous, readings.meters[meter], thresholdPercent);
      return (
        notices.length > 0 ||
        !previous ||
        previous.level !== record.level ||
        previous.window !== record.window ||
        previous.limit !== record.limit
      );
    });
    let records: Records;
    if (transition) {
      const decided = await this.decide(tenantId, readings);
      records = decided.records;
      this.records.set(tenantId, records);
      for (const meter of Meters) {
        if (cached[meter]?.level !== records[meter]?.level) {
          this.stateChanges?.inc({ meter, state: records[meter]!.level });
          const usageAt = readings.meters[meter].usageAt;
          if (usageAt) this.delay?.observe(Math.max(0, (Date.now() - Date.parse(usageAt)) / 1_000));
        }
      }
      await this.writeState(tenantId, readings, records, true);
      await this.publishNotices(decided.noticeIds);
    } else {
      records = cached;
      await this.writeState(tenantId, readings, records, false);
    }
  }

  /** Decide again under the tenant's row locks, and store the records with their notices. */
  private decide(tenantId: string, readings: TenantReadings): Promise<{ records: Records; noticeIds: string[] }> {
    const { thresholdPercent } = this.options;
    return inTransaction(this.options.pool, async (client) => {
      const { rows } = await client.query<MeterStateRow>(
        `SELECT tenant_id, meter, window_start, level, quota_limit, used, last_notified, notified
           FROM quota.meter_states WHERE tenant_id = $1 FOR UPDATE`,
        [tenantId],
      );
      const stored: Records = {};
      for (const row of rows) stored[row.meter] = toRecord(row);
      keepKnownUsage(readings, stored);
      const records: Records = {};
      const notices: { meter: Meter; notice: Notice }[] = [];
      for (const meter of Meters) {
        const result = assess(stored[meter], readings.meters[meter], thresholdPercent);
        records[meter] = result.record;
        for (const notice of result.notices) notices.push({ meter, notice });
      }
      await client.query(
        `INSERT INTO quota.meter_states
           (tenant_id, meter, window_start, level, quota_limit, used, last_notified, notified, updated_at)
         SELECT $1, m, w, l, q, u, n, coalesce(array(SELECT json_array_elements_text(nn)), '{}'), now()
           FROM json_to_recordset($2::json) AS r(m text, w timestamptz, l text, q bigint, u bigint, n text, nn json)
         ON CONFLICT (tenant_id, meter) DO UPDATE SET
           window_start = excluded.window_start, level = excluded.level, quota_limit = excluded.quota_limit,
           used = excluded.used, last_notified = excluded.last_notified, notified = excluded.notified,
           updated_at = now()`,
        [
          tenantId,
          JSON.stringify(
            Meters.map((meter) => {
              const r = records[meter]!;
              return { m: meter, w: r.window, l: r.level, q: r.limit, u: r.used, n: r.lastNotified, nn: r.notified };
            }),
          ),
        ],
      );
      const at = this.now().toISOString();
      const noticeIds: string[] = [];
      for (const { meter, notice } of notices) {
        const id = noticeId(tenantId, meter, notice);
        const { type, payload } = noticeEvent(tenantId, meter, notice, thresholdPercent, at);
        const inserted = await client.query(
          `INSERT INTO quota.notifications (event_id, tenant_id, type, payload) VALUES ($1, $2, $3, $4)
           ON CONFLICT (event_id) DO NOTHING`,
          [id, tenantId, type, JSON.stringify(payload)],
        );
        if (inserted.rowCount) noticeIds.push(id);
      }
      return { records, noticeIds };
    });
  }

  private async writeState(tenantId: string, readings: TenantReadings, records: Records, levelsMayChange: boolean) {
    const entry: QuotaStateEntry = {
      api_calls: meterState(readings, records, 'api_calls'),
      storage_bytes: meterState(readings, records, 'storage_bytes'),
      users: meterState(readings, records, 'users'),
      plan: readings.plan,
      period: readings.window,
      updatedAt: this.now().toISOString(),
    };
    const levels = JSON.stringify([entry.plan, ...Meters.map((m) => [entry[m].state, entry[m].limit])]);
    const used = JSON.stringify(Meters.map((m) => entry[m].used));
    const last = this.written.get(tenantId);
    if (last && last.levels === levels && last.used === used) return;
    const levelChanged = !last || last.levels !== levels;
    if (!levelChanged && !levelsMayChange && Date.now() - last.at < this.options.refreshMs) {
      // Only `used` moved: write it with the next refresh, not on every batch.
      this.deferRefresh(tenantId, last.at);
      return;
    }
    await this.options.quotaState.put(QuotaStateKeys.state(tenantId), JSON.stringify(entry));
    this.written.set(tenantId, { levels, used, at: Date.now() });
  }

  private deferRefresh(tenantId: string, lastAt: number): void {
    if (this.waitingForRefresh.has(tenantId)) return;
    this.waitingForRefresh.add(tenantId);
    setTimeout(
      () => {
        this.waitingForRefresh.delete(tenantId);
        this.mark(tenantId);
      },
      Math.max(0, lastAt + this.options.refreshMs - Date.now()),
    ).unref();
  }

  /** Publish stored notices not yet published: those just decided, or every one left over (`undefined`). */
  async publishNotices(ids?: string[]): Promise<number> {
    if (ids && ids.length === 0) return 0;
    const { pool, js, logger } = this.options;
    const { rows } = await pool.query<{ event_id: string; tenant_id: string; type: string; payload: { at: string } }>(
      `SELECT event_id, tenant_id, type, payload FROM quota.notifications
        WHERE published_at IS NULL ${ids ? 'AND event_id = ANY($1::text[])' : ''}
        ORDER BY created_at LIMIT 1000`,
      ids ? [ids] : [],
    );
    let published = 0;
    for (const row of rows) {
      const def = definitionOf(row.type);
      if (!def) {
        logger.error({ eventId: row.event_id, type: row.type }, 'stored notice has a type this build does not know');
        continue;
      }
      const message = encodeMessage(def, row.payload, {
        source: SOURCE,
        id: row.event_id,
        subject: row.tenant_id,
        time: new Date(row.payload.at),
      });
      // Publish, then mark: a crash in between publishes the same id again, which JetStream drops.
      await publishMessage(js, Subjects.quotaEvents(row.tenant_id), message);
      await pool.query('UPDATE quota.notifications SET published_at = now() WHERE event_id = $1', [row.event_id]);
      this.notices?.inc({ type: row.type });
      published++;
    }
    return published;
  }
}

/**
 * A meter whose usage total has not arrived yet (quota just started and the bucket's values are
 * still on their way) keeps the usage of its stored record rather than reading as 0, which
 * would clear an exceeded tenant for a moment and send a false `cleared`.
 */
function keepKnownUsage(readings: TenantReadings, records: Records): void {
  for (const meter of Meters) {
    const reading = readings.meters[meter];
    const known = records[meter];
    if (reading.usageAt !== undefined || !known) continue;
    if (meterKinds[meter] === 'gauge' || known.window === reading.window) reading.used = known.used;
  }
}

function toRecord(row: MeterStateRow): MeterRecord {
  return {
    window: row.window_start.toISOString(),
    level: row.level,
    limit: Number(row.quota_limit),
    used: Number(row.used),
    lastNotified: row.last_notified,
    notified: row.notified,
  };
}

function meterState(readings: TenantReadings, records: Records, meter: Meter) {
  const reading = readings.meters[meter];
  return { limit: reading.limit, used: reading.used, state: records[meter]?.level ?? 'ok' };
}

function noticeEvent(
  tenantId: string,
  meter: Meter,
  notice: Notice,
  thresholdPercent: number,
  at: string,
): { type: string; payload: unknown } {
  const base = { tenantId, meter, window: notice.window, used: notice.used, limit: notice.limit, at };
  switch (notice.type) {
    case 'warning':
      return { type: QuotaWarning.type, payload: { ...base, thresholdPercent } satisfies DataOf<typeof QuotaWarning> };
    case 'exceeded':
      return { type: QuotaExceeded.type, payload: base satisfies DataOf<typeof QuotaExceeded> };
    case 'cleared':
      return {
        type: QuotaCleared.type,
        payload: { ...base, reason: notice.reason ?? 'usage-dropped' } satisfies DataOf<typeof QuotaCleared>,
      };
  }
}
