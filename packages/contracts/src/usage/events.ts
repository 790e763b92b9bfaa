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

export const usageEvents = [UsageRecorded, WindowClosed] as const;

/**
 * The ce-id (and `Nats-Msg-Id`) of a usage message, derived from its dedup key: a republished
 * batch is dropped by JetStream inside the USAGE duplicate window, and by metering for good.
 */
export function usageEventId(tenantId: string, meter: Meter, dedupKey: string): string {
  return `${tenantId}/${meter}/${dedupKey}`;
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
