import { hostname } from 'node:os';
import type { JetStreamClient } from '@nats-io/jetstream';
import {
  ContractViolation,
  encodeMessage,
  Subjects,
  TenantId,
  USAGE_BATCH_MAX_RECORDS,
  UsageRecordedBatch,
  usageBatchEventId,
} from '@ttm/contracts';
import { type Logger, publishMessage } from '@ttm/service-kit';
import type { RequestPathMetrics } from './metrics.js';

export const USAGE_SOURCE = '/ttm/gateway';
/** The producer token of the gateway's usage subject: `usage.batch.gateway.api_calls`. */
export const USAGE_PRODUCER = 'gateway';

/**
 * A cut of the counters, published as messages of up to 2,000 tenants each (the parts, fixed at
 * the cut), every record with the dedup key `<instance>:<seq>`.
 */
interface Batch {
  seq: number;
  at: Date;
  /** Parts not acknowledged yet: part number -> its tenants and their counts. */
  parts: Map<number, [tenantId: string, calls: number][]>;
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
const concurrency = 16;

/** An id no other gateway process shares: host, pid and a random part (a restart gets a new one). */
export function gatewayInstanceId(): string {
  const host = hostname()
    .replace(/[^\x21-\x7e]|[.:/]/g, '-')
    .slice(0, 40);
  return `gw-${host}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Counts allowed tenant API calls in memory and publishes them as `ttm.usage.recorded.v2`
 * (meter `api_calls`, kind `count`) on `usage.batch.gateway.api_calls`: one record per tenant
 * per flush, up to 2,000 records per message, never one message per request.
 *
 * Exactly once, end to end: a flush cuts the counters into a numbered batch, split into parts
 * once; part `p` is the message with batch key `<instanceId>:<seq>:<p>` (its ce-id and
 * Nats-Msg-Id) and every record carries the dedup key `<instanceId>:<seq>`. A message that fails
 * (NATS down, no acknowledgement) stays in the batch, unchanged, and is sent again with the same
 * id on the next flush: JetStream drops a copy it already has (duplicate window) and metering
 * counts a tenant's dedup key once for good. Calls counted meanwhile wait in the counters; the
 * next batch is cut only once the previous one is fully acknowledged, so a retried message never
 * changes its records (which would make the duplicate lose the difference).
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
    if (this.pending) for (const part of this.pending.parts.values()) for (const [, n] of part) total += n;
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

  /** Cut the counters into a batch of parts; a tenant id that is not one can never be published: dropped. */
  private cut(): Batch | undefined {
    if (this.counts.size === 0) return undefined;
    const counted = this.counts;
    this.counts = new Map();
    const parts = new Map<number, [string, number][]>();
    let part: [string, number][] = [];
    for (const [tenantId, calls] of counted) {
      if (!TenantId.safeParse(tenantId).success) {
        this.options.logger.error({ tenantId, value: calls }, 'api_calls usage breaks its contract; dropped');
        continue;
      }
      if (part.length === USAGE_BATCH_MAX_RECORDS) {
        parts.set(parts.size, part);
        part = [];
      }
      part.push([tenantId, calls]);
    }
    if (part.length > 0) parts.set(parts.size, part);
    return parts.size > 0 ? { seq: ++this.seq, at: new Date(), parts } : undefined;
  }

  private async publish(): Promise<void> {
    this.pending ??= this.cut();
    const batch = this.pending;
    if (!batch) return;
    const { metrics } = this.options;
    const entries = [...batch.parts];
    let failed = 0;
    let lastError: unknown;
    for (let i = 0; i < entries.length; i += concurrency) {
      await Promise.all(
        entries.slice(i, i + concurrency).map(async ([number, part]) => {
          try {
            await this.publishPart(batch, number, part);
            batch.parts.delete(number);
            metrics.usageMessages.inc({ outcome: 'published' });
            let calls = 0;
            for (const [, n] of part) calls += n;
            metrics.usageCalls.inc(calls);
          } catch (error) {
            if (error instanceof ContractViolation) {
              // Can never be published: dropped, not retried forever (cut() keeps bad tenant ids out).
              batch.parts.delete(number);
              this.options.logger.error(
                { err: error, part: number, records: part.length },
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
    if (batch.parts.size === 0) {
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

  private async publishPart(batch: Batch, number: number, part: [string, number][]): Promise<void> {
    const dedupKey = `${this.options.instanceId}:${batch.seq}`;
    const batchKey = `${dedupKey}:${number}`;
    const at = batch.at.toISOString();
    const message = encodeMessage(
      UsageRecordedBatch,
      {
        meter: 'api_calls',
        kind: 'count',
        batchKey,
        records: part.map(([tenantId, value]) => ({ tenantId, value, at, dedupKey })),
      },
      { source: USAGE_SOURCE, id: usageBatchEventId(USAGE_PRODUCER, 'api_calls', batchKey), time: batch.at },
    );
    await publishMessage(this.options.js, Subjects.usageBatch(USAGE_PRODUCER, 'api_calls'), message, {
      timeoutMs: this.options.publishTimeoutMs ?? 2_000,
    });
  }
}
