import { hostname } from 'node:os';
import type { JetStreamClient } from '@nats-io/jetstream';
import { ContractViolation, encodeMessage, Subjects, UsageRecorded, usageEventId } from '@ttm/contracts';
import { type Logger, publishMessage } from '@ttm/service-kit';
import type { RequestPathMetrics } from './metrics.js';

export const USAGE_SOURCE = '/ttm/gateway';

/** A cut of the counters, published as one message per tenant, all with the dedup key `<instance>:<seq>`. */
interface Batch {
  seq: number;
  at: Date;
  /** Tenants whose message is not acknowledged yet, with their count. */
  counts: Map<string, number>;
}

export interface UsageMeterOptions {
  js: JetStreamClient;
  logger: Logger;
  metrics: RequestPathMetrics;
  /** Unique per running gateway process: with the batch number, the dedup key of its messages. */
  instanceId: string;
  /** How long to wait for the stream's acknowledgement of one message. */
  publishTimeoutMs?: number;
}

/** Messages in flight at once while publishing a batch. */
const concurrency = 256;

/** An id no other gateway process shares: host, pid and a random part (a restart gets a new one). */
export function gatewayInstanceId(): string {
  const host = hostname()
    .replace(/[^\x21-\x7e]|[.:/]/g, '-')
    .slice(0, 40);
  return `gw-${host}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Counts allowed tenant API calls in memory and publishes them as `ttm.usage.recorded.v1`
 * (meter `api_calls`, kind `count`) on `usage.<tenantId>.api_calls`: one message per tenant
 * per flush, never one per request.
 *
 * Exactly once, end to end: a flush cuts the counters into a numbered batch whose messages carry
 * the dedup key `<instanceId>:<seq>` and ce-id / Nats-Msg-Id `usageEventId(...)`. A message that
 * fails (NATS down, no acknowledgement) stays in the batch, unchanged, and is sent again with
 * the same id on the next flush: JetStream drops a copy it already has (duplicate window) and
 * metering counts a dedup key once for good. Calls counted meanwhile wait in the counters; the
 * next batch is cut only once the previous one is fully acknowledged, so a retried message never
 * changes its value (which would make the duplicate lose the difference).
 */
export class UsageMeter {
  private counts = new Map<string, number>();
  private pending: Batch | undefined;
  private seq = 0;
  private flushing: Promise<void> | undefined;
  private lastErrorLogAt = 0;

  constructor(private readonly options: UsageMeterOptions) {}

  /** One allowed call of `tenantId`. */
  count(tenantId: string): void {
    this.counts.set(tenantId, (this.counts.get(tenantId) ?? 0) + 1);
  }

  /** Calls counted and not yet acknowledged by the stream. */
  get unpublished(): number {
    let total = 0;
    for (const n of this.counts.values()) total += n;
    if (this.pending) for (const n of this.pending.counts.values()) total += n;
    return total;
  }

  /** Publish what is counted (and what failed before). Concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.publish().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Flush until nothing is left or `deadlineMs` passes (shutdown). Returns the calls left unpublished. */
  async drain(deadlineMs: number): Promise<number> {
    const deadline = Date.now() + deadlineMs;
    for (let attempt = 0; this.unpublished > 0 && Date.now() < deadline; attempt++) {
      await this.flush();
      if (this.unpublished > 0) await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 1_000)));
    }
    return this.unpublished;
  }

  private async publish(): Promise<void> {
    if (!this.pending) {
      if (this.counts.size === 0) return;
      this.pending = { seq: ++this.seq, at: new Date(), counts: this.counts };
      this.counts = new Map();
    }
    const batch = this.pending;
    const { metrics } = this.options;
    const entries = [...batch.counts];
    let failed = 0;
    let lastError: unknown;
    for (let i = 0; i < entries.length; i += concurrency) {
      await Promise.all(
        entries.slice(i, i + concurrency).map(async ([tenantId, value]) => {
          try {
            await this.publishOne(batch, tenantId, value);
            batch.counts.delete(tenantId);
            metrics.usageMessages.inc({ outcome: 'published' });
            metrics.usageCalls.inc(value);
          } catch (error) {
            if (error instanceof ContractViolation) {
              // Can never be published (a tenant id that is not one): dropped, not retried forever.
              batch.counts.delete(tenantId);
              this.options.logger.error(
                { err: error, tenantId, value },
                'api_calls usage breaks its contract; dropped',
              );
              return;
            }
            failed++;
            lastError = error;
            metrics.usageMessages.inc({ outcome: 'failed' });
          }
        }),
      );
    }
    if (batch.counts.size === 0) {
      this.pending = undefined;
      metrics.usageBatches.inc({ outcome: 'published' });
      return;
    }
    metrics.usageBatches.inc({ outcome: 'retry' });
    if (Date.now() - this.lastErrorLogAt >= 10_000) {
      this.lastErrorLogAt = Date.now();
      this.options.logger.warn(
        { err: lastError, batch: batch.seq, failed, calls: this.unpublished },
        'publishing api_calls usage failed; kept, will retry',
      );
    }
  }

  private async publishOne(batch: Batch, tenantId: string, value: number): Promise<void> {
    const dedupKey = `${this.options.instanceId}:${batch.seq}`;
    const message = encodeMessage(
      UsageRecorded,
      { tenantId, meter: 'api_calls', kind: 'count', value, at: batch.at.toISOString(), dedupKey },
      { source: USAGE_SOURCE, id: usageEventId(tenantId, 'api_calls', dedupKey), time: batch.at, subject: tenantId },
    );
    await publishMessage(this.options.js, Subjects.usage(tenantId, 'api_calls'), message, {
      timeoutMs: this.options.publishTimeoutMs ?? 2_000,
    });
  }
}
