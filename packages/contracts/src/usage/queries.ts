import { z } from 'zod';
import { TenantId, Timestamp } from '../tenant/fields.js';
import { CoreSubjects } from '../topology.js';
import { Granularity, Meter, MeterKind, UsageValue } from './fields.js';

/**
 * Request-reply subjects metering answers (core NATS, queue group `metering`; nothing is stored
 * in a stream): how the gateway serves `GET /api/admin/tenants/{id}/usage` and
 * `GET /api/tenant/usage` without reading metering's database. Request and reply are JSON.
 */
export const UsageQuerySubjects = {
  /** UsageWindowsRequest -> UsageWindowsReply */
  windows: CoreSubjects.usageWindowsQuery,
} as const;

/** Most windows one reply carries; ask again from the last windowStart for more. */
export const USAGE_WINDOWS_PAGE = 2_000;

export const UsageWindowsRequest = z.object({
  tenantId: TenantId,
  granularity: Granularity,
  from: Timestamp.describe('Windows starting at or after this moment'),
  to: Timestamp.describe('Windows starting before this moment'),
  meters: z.array(Meter).min(1).optional().describe('Only these meters (default: all)'),
});
export type UsageWindowsRequest = z.infer<typeof UsageWindowsRequest>;

export const UsageWindow = z.object({
  meter: Meter,
  kind: MeterKind,
  granularity: Granularity,
  windowStart: Timestamp,
  windowEnd: Timestamp,
  value: UsageValue.describe('count: the sum so far; gauge: the peak sample'),
  latest: UsageValue.optional().describe('gauge: the latest sample in the window'),
  closed: z.boolean().describe('Published on BILLING: the value is final'),
});
export type UsageWindow = z.infer<typeof UsageWindow>;

export const UsageWindowsReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    windows: z.array(UsageWindow),
    /** More windows match than one reply carries. */
    truncated: z.boolean(),
  }),
  z.object({
    ok: z.literal(false),
    error: z.object({ code: z.enum(['bad-request', 'unavailable']), message: z.string() }),
  }),
]);
export type UsageWindowsReply = z.infer<typeof UsageWindowsReply>;
