import type { Granularity } from '@ttm/contracts';

/**
 * Usage windows are `[start, end)` and aligned in UTC: an hour starts at minute 0, a day at
 * 00:00 UTC, a month at 00:00 UTC on its first day. No local time zone takes part, so daylight
 * saving never makes a window 23 or 25 hours long.
 */
export interface UsageWindow {
  granularity: Granularity;
  start: Date;
  end: Date;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export function windowStart(granularity: Granularity, at: Date): Date {
  const t = at.getTime();
  switch (granularity) {
    case 'hour':
      return new Date(Math.floor(t / HOUR_MS) * HOUR_MS);
    case 'day':
      return new Date(Math.floor(t / DAY_MS) * DAY_MS);
    case 'month':
      return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  }
}

/** The end of the window that starts at `start` (the start of the next one). */
export function windowEnd(granularity: Granularity, start: Date): Date {
  switch (granularity) {
    case 'hour':
      return new Date(start.getTime() + HOUR_MS);
    case 'day':
      return new Date(start.getTime() + DAY_MS);
    case 'month':
      return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  }
}

export function windowOf(granularity: Granularity, at: Date): UsageWindow {
  const start = windowStart(granularity, at);
  return { granularity, start, end: windowEnd(granularity, start) };
}

/** The hour, day and month a moment counts in. */
export function windowsOf(at: Date): [UsageWindow, UsageWindow, UsageWindow] {
  return [windowOf('hour', at), windowOf('day', at), windowOf('month', at)];
}

/**
 * When a usage message counts. Windows that ended at or before `closedBefore` are closed (their
 * totals went to billing), so usage that arrives late for them counts in the first open hour
 * instead: nothing is lost and a closed window never changes. A time in the future (a producer's
 * clock running ahead) counts now, so it cannot open windows that billing would see early.
 */
export function countingTime(at: Date, closedBefore: Date | null, now: Date): Date {
  return new Date(countingTimeMs(at.getTime(), closedBefore?.getTime() ?? null, now.getTime()));
}

/** `countingTime` in epoch milliseconds, for the hot path. */
export function countingTimeMs(at: number, closedBefore: number | null, now: number): number {
  let t = at;
  if (closedBefore !== null && t < closedBefore) t = closedBefore;
  if (t > now) t = Math.max(now, closedBefore ?? 0);
  return t;
}

/** Start of the hour of an epoch-milliseconds moment. */
export function hourStartMs(t: number): number {
  return Math.floor(t / HOUR_MS) * HOUR_MS;
}

/** Start of the UTC day of an epoch-milliseconds moment. */
export function dayStartMs(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS;
}

/**
 * The watermark the closer may advance to at `now`: windows ending at or before it are over,
 * with `graceMs` left for producers' batches that are still on their way.
 */
export function closableBefore(now: Date, graceMs: number): Date {
  return windowStart('hour', new Date(now.getTime() - graceMs));
}

/** The UTC month `at` falls in: the period month-to-date counts belong to. */
export function monthOf(at: Date): Date {
  return windowStart('month', at);
}
