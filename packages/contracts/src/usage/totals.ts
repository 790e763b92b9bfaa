import { z } from 'zod';
import { TenantId, Timestamp } from '../tenant/fields.js';
import { Meter, MeterKind, UsageValue } from './fields.js';

/**
 * The value metering keeps under `<tenantId>.<meter>` in the KV bucket `ttm-usage-totals`
 * (`Buckets.usageTotals`): what a tenant has used so far, for quota enforcement. Counts are
 * month-to-date (`period` is the month's start); gauges are the latest sample.
 */
export const UsageTotal = z.object({
  tenantId: TenantId,
  meter: Meter,
  kind: MeterKind,
  period: Timestamp.describe('Start of the UTC month the value belongs to'),
  value: UsageValue.describe('count: month-to-date sum; gauge: latest sample'),
  at: Timestamp.describe('count: when metering last added to it; gauge: when the sample was taken'),
});
export type UsageTotal = z.infer<typeof UsageTotal>;

/** `<tenantId>.<meter>`: the key of a tenant's total in `ttm-usage-totals`. */
export function usageTotalKey(tenantId: string, meter: Meter): string {
  return `${tenantId}.${meter}`;
}
