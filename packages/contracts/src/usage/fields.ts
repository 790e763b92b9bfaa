import { z } from 'zod';

/**
 * What is metered per tenant. `api_calls` is counted by the gateway (a batch count per flush);
 * `storage_bytes` and `users` are sampled by metering on a schedule.
 */
export const Meters = ['api_calls', 'storage_bytes', 'users'] as const;
export const Meter = z.enum(Meters).describe('Meter: api_calls (count), storage_bytes and users (gauges)');
export type Meter = z.infer<typeof Meter>;

/** `count`: values add up within a window; `gauge`: a sampled level, a window keeps its peak. */
export const MeterKind = z.enum(['count', 'gauge']).describe('count: summed per window; gauge: sampled level');
export type MeterKind = z.infer<typeof MeterKind>;

/** The kind each meter is; a usage message whose kind disagrees breaks its contract. */
export const meterKinds: Readonly<Record<Meter, MeterKind>> = {
  api_calls: 'count',
  storage_bytes: 'gauge',
  users: 'gauge',
};

/** Billing windows, aligned in UTC: `[start, end)`. */
export const Granularities = ['hour', 'day', 'month'] as const;
export const Granularity = z.enum(Granularities).describe('Window length, aligned in UTC');
export type Granularity = z.infer<typeof Granularity>;

/**
 * Identifies one batch count or sample for good, within its tenant and meter: e.g.
 * `<gateway-instance>:<batch-seq>` or `sample:<slot>`. Visible ASCII, so it can be part of a
 * `Nats-Msg-Id` header.
 */
export const DEDUP_KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;
export const DedupKey = z
  .string()
  .regex(DEDUP_KEY_PATTERN, 'must be 1-200 visible ASCII characters')
  .describe('Deduplication key, unique per tenant and meter (e.g. <source-instance>:<batch-seq>)');

/** A usage amount: a count of calls, a number of bytes or of users. */
export const UsageValue = z
  .number()
  .int()
  .nonnegative()
  .max(Number.MAX_SAFE_INTEGER)
  .describe('Amount: calls counted in the batch, or the sampled level');
