import { z } from 'zod';
import { defineEvent } from '../message.js';
import { TenantId, Timestamp } from '../tenant/fields.js';
import { DedupKey, Granularity, Meter, MeterKind, UsageValue } from './fields.js';

export const UsageRecorded = defineEvent({
  type: 'ttm.usage.recorded.v1',
  aggregate: 'usage',
  description:
    'A batch count (api_calls, from the gateway) or a sample (storage_bytes, users, from metering) of one tenant and meter; counted once per dedupKey',
  schema: z.object({
    tenantId: TenantId,
    meter: Meter,
    kind: MeterKind,
    value: UsageValue,
    at: Timestamp.describe('When the usage happened (the end of the counted batch, or the sample time)'),
    dedupKey: DedupKey,
  }),
});

/** At most this many records in one `ttm.usage.recorded.v2` message (~100 bytes each: well under NATS's 1 MB). */
export const USAGE_BATCH_MAX_RECORDS = 2_000;

/**
 * Many usage records of one meter in one message (e.g. one gateway flush: every tenant's count).
 * The same records as v1, each keyed by its own dedupKey; v1 stays accepted. One message instead
 * of one per tenant spares the stream, the consumer and their acknowledgements a round per record.
 */
export const UsageRecordedBatch = defineEvent({
  type: 'ttm.usage.recorded.v2',
  aggregate: 'usage',
  description:
    'Many batch counts or samples of one meter, any tenants, published as one message on usage.batch.<producer>.<meter>; each record counted once per tenant, meter and dedupKey, exactly as a v1 message',
  schema: z.object({
    meter: Meter,
    kind: MeterKind,
    batchKey: DedupKey.describe(
      'Identifies this message for good (e.g. <source-instance>:<batch-seq>:<part>): its ce-id and Nats-Msg-Id are derived from it; a retry sends the same records under the same batchKey',
    ),
    records: z
      .array(
        z.object({
          tenantId: TenantId,
          value: UsageValue,
          at: Timestamp.describe('When the usage happened (the end of the counted batch, or the sample time)'),
          dedupKey: DedupKey,
        }),
      )
      .min(1)
      .max(USAGE_BATCH_MAX_RECORDS)
      .describe('The records, at most 2,000; each is counted once per tenant, meter and dedupKey'),
  }),
});

export const WindowClosed = defineEvent({
  type: 'ttm.billing.window-closed.v1',
  aggregate: 'billing',
  description:
    'A usage window of one tenant and meter closed for good; ce-id is <tenantId>/<meter>/<granularity>/<windowStart>',
  schema: z.object({
    tenantId: TenantId,
    meter: Meter,
    kind: MeterKind,
    granularity: Granularity,
    windowStart: Timestamp.describe('Start of the window (inclusive), UTC'),
    windowEnd: Timestamp.describe('End of the window (exclusive), UTC'),
    value: UsageValue.describe('count meters: the sum over the window; gauge meters: the peak sample in it'),
  }),
});

export const usageEvents = [UsageRecorded, UsageRecordedBatch, WindowClosed] as const;

/**
 * The ce-id (and `Nats-Msg-Id`) of a usage message, derived from its dedup key: a republished
 * batch is dropped by JetStream inside the USAGE duplicate window, and by metering for good.
 */
export function usageEventId(tenantId: string, meter: Meter, dedupKey: string): string {
  return `${tenantId}/${meter}/${dedupKey}`;
}

/** The ce-id (and `Nats-Msg-Id`) of a `ttm.usage.recorded.v2` message, derived from its batch key. */
export function usageBatchEventId(producer: string, meter: Meter, batchKey: string): string {
  return `batch/${producer}/${meter}/${batchKey}`;
}

/** The deterministic ce-id of a closed window: publishing it again is a duplicate, never a second window. */
export function windowClosedEventId(
  tenantId: string,
  meter: Meter,
  granularity: Granularity,
  windowStart: string,
): string {
  return `${tenantId}/${meter}/${granularity}/${windowStart}`;
}
