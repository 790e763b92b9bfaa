import {
  type Granularity,
  type Meter,
  Meters,
  meterKinds,
  UsageQuerySubjects,
  type UsageWindow,
  UsageWindowsReply,
  type UsageWindowsRequest,
} from '@ttm/contracts';
import type { GatewayDeps } from '../../deps.js';
import { InvalidUsageRange, UsageUnavailable } from './problems.js';
import type { UsageQuery, UsageReport, UsageWindowItem } from './schemas.js';

/** How long the gateway waits for metering to answer one page. */
export const USAGE_QUERY_TIMEOUT_MS = 5_000;
/** Pages of `query.usage.windows` one HTTP request may read (each up to 2,000 windows). */
const MAX_PAGES = 10;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Longest range per granularity, so one answer stays a few thousand windows. */
const maxRangeMs: Record<Granularity, number> = { hour: 31 * DAY, day: 3 * 366 * DAY, month: 10 * 366 * DAY };
const maxRangeText: Record<Granularity, string> = { hour: '31 days', day: '3 years', month: '10 years' };

/** The start of the UTC window of `granularity` that `at` falls in. */
export function windowStartOf(at: Date, granularity: Granularity): Date {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  if (granularity === 'month') return new Date(Date.UTC(y, m, 1));
  if (granularity === 'day') return new Date(Date.UTC(y, m, at.getUTCDate()));
  return new Date(Date.UTC(y, m, at.getUTCDate(), at.getUTCHours()));
}

/**
 * The range asked for, with defaults (to: now; from: a day, 30 days or 12 months back) and
 * `from` aligned down to the start of its window, so the window it falls in is included.
 */
export function usageRange(query: UsageQuery, now: Date): { from: Date; to: Date } {
  const to = query.to === undefined ? now : new Date(query.to);
  let from: Date;
  if (query.from !== undefined) from = new Date(query.from);
  else if (query.granularity === 'hour') from = new Date(to.getTime() - DAY);
  else if (query.granularity === 'day') from = new Date(to.getTime() - 30 * DAY);
  else from = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() - 11, 1));
  from = windowStartOf(from, query.granularity);
  if (from.getTime() >= to.getTime()) throw new InvalidUsageRange('"from" must be before "to"');
  if (to.getTime() - from.getTime() > maxRangeMs[query.granularity]) {
    throw new InvalidUsageRange(
      `a ${query.granularity} range may span at most ${maxRangeText[query.granularity]}; narrow it or use a coarser granularity`,
    );
  }
  return { from, to };
}

/**
 * A tenant's usage windows, asked of metering over NATS request-reply (`query.usage.windows`;
 * the gateway never reads metering's database), page after page, with per-meter totals.
 */
export async function usageOf(
  deps: Pick<GatewayDeps, 'nc'>,
  tenantId: string,
  query: UsageQuery,
  now = new Date(),
): Promise<UsageReport> {
  const { from, to } = usageRange(query, now);
  const meters: Meter[] | undefined = query.meter ? [query.meter] : undefined;
  const seen = new Set<string>();
  const windows: UsageWindowItem[] = [];
  let pageFrom = from;
  for (let page = 0; page < MAX_PAGES; page++) {
    const reply = await ask(deps, {
      tenantId,
      granularity: query.granularity,
      from: pageFrom.toISOString(),
      to: to.toISOString(),
      ...(meters ? { meters } : {}),
    });
    for (const w of reply.windows) {
      const key = `${w.meter}/${w.windowStart}`;
      if (seen.has(key)) continue;
      seen.add(key);
      windows.push(itemOf(w));
    }
    const last = reply.windows.at(-1);
    if (!reply.truncated || !last) break;
    const next = new Date(last.windowStart);
    // A page of windows that all start at the same instant cannot move on: stop rather than loop.
    if (next.getTime() <= pageFrom.getTime()) break;
    pageFrom = next;
  }
  windows.sort((a, b) => a.window_start.localeCompare(b.window_start) || a.meter.localeCompare(b.meter));
  return {
    tenant_id: tenantId,
    granularity: query.granularity,
    from: from.toISOString(),
    to: to.toISOString(),
    totals: totalsOf(windows, meters ?? [...Meters]),
    windows,
  };
}

async function ask(
  deps: Pick<GatewayDeps, 'nc'>,
  request: UsageWindowsRequest,
): Promise<Extract<UsageWindowsReply, { ok: true }>> {
  let data: unknown;
  try {
    const msg = await deps.nc.request(UsageQuerySubjects.windows, JSON.stringify(request), {
      timeout: USAGE_QUERY_TIMEOUT_MS,
    });
    data = msg.json();
  } catch (error) {
    throw new UsageUnavailable(`metering did not answer: ${(error as Error).message}`);
  }
  const reply = UsageWindowsReply.safeParse(data);
  if (!reply.success) throw new UsageUnavailable('metering answered something unreadable');
  if (!reply.data.ok) {
    // The gateway validated the range; a refusal here is a disagreement, not the caller's fault.
    throw new UsageUnavailable(`metering refused: ${reply.data.error.message}`);
  }
  return reply.data;
}

function itemOf(w: UsageWindow): UsageWindowItem {
  return {
    meter: w.meter,
    kind: w.kind,
    window_start: new Date(w.windowStart).toISOString(),
    window_end: new Date(w.windowEnd).toISOString(),
    value: w.value,
    ...(w.latest === undefined ? {} : { latest: w.latest }),
    closed: w.closed,
  };
}

function totalsOf(windows: UsageWindowItem[], meters: Meter[]): UsageReport['totals'] {
  return meters.map((meter) => {
    const kind = meterKinds[meter];
    let value = 0;
    for (const w of windows) {
      if (w.meter !== meter) continue;
      value = kind === 'count' ? value + w.value : Math.max(value, w.value);
    }
    return { meter, kind, value };
  });
}
