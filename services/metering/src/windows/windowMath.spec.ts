import { describe, expect, it } from 'vitest';
import { closableBefore, countingTime, monthOf, windowEnd, windowOf, windowStart, windowsOf } from './windowMath.js';

const d = (iso: string) => new Date(iso);
const iso = (date: Date) => date.toISOString();

describe('windows are aligned in UTC', () => {
  it('an hour starts at minute 0 and lasts 60 minutes', () => {
    const w = windowOf('hour', d('2025-03-30T01:59:59.999Z'));
    expect([iso(w.start), iso(w.end)]).toEqual(['2025-03-30T01:00:00.000Z', '2025-03-30T02:00:00.000Z']);
  });

  it('a moment on a boundary opens the next window (start inclusive, end exclusive)', () => {
    expect(iso(windowStart('hour', d('2025-03-30T02:00:00.000Z')))).toBe('2025-03-30T02:00:00.000Z');
    expect(iso(windowStart('day', d('2025-03-31T00:00:00.000Z')))).toBe('2025-03-31T00:00:00.000Z');
    expect(iso(windowStart('month', d('2025-04-01T00:00:00.000Z')))).toBe('2025-04-01T00:00:00.000Z');
    expect(iso(windowStart('month', d('2025-03-31T23:59:59.999Z')))).toBe('2025-03-01T00:00:00.000Z');
  });

  it('a day is 24 hours even on daylight-saving days (UTC has none)', () => {
    for (const day of ['2025-03-30', '2025-10-26', '2025-03-09', '2025-11-02']) {
      const w = windowOf('day', d(`${day}T12:00:00Z`));
      expect(w.end.getTime() - w.start.getTime()).toBe(86_400_000);
      expect(iso(w.start)).toBe(`${day}T00:00:00.000Z`);
    }
  });

  it('months have their own length: 28, 29, 30, 31 days', () => {
    const length = (at: string) => {
      const w = windowOf('month', d(at));
      return (w.end.getTime() - w.start.getTime()) / 86_400_000;
    };
    expect(length('2025-02-10T00:00:00Z')).toBe(28);
    expect(length('2024-02-29T23:00:00Z')).toBe(29);
    expect(length('2025-04-30T23:59:59Z')).toBe(30);
    expect(length('2025-01-31T23:59:59Z')).toBe(31);
  });

  it('December rolls into January of the next year', () => {
    const w = windowOf('month', d('2025-12-31T23:59:59.999Z'));
    expect([iso(w.start), iso(w.end)]).toEqual(['2025-12-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
    expect(iso(windowEnd('day', d('2025-12-31T00:00:00Z')))).toBe('2026-01-01T00:00:00.000Z');
    expect(iso(windowEnd('hour', d('2025-12-31T23:00:00Z')))).toBe('2026-01-01T00:00:00.000Z');
  });

  it('ignores the offset a timestamp was written with', () => {
    // 00:30 in UTC+02:00 is 22:30 UTC the day before, in the previous month.
    const at = d('2025-03-01T00:30:00+02:00');
    expect(windowsOf(at).map((w) => iso(w.start))).toEqual([
      '2025-02-28T22:00:00.000Z',
      '2025-02-28T00:00:00.000Z',
      '2025-02-01T00:00:00.000Z',
    ]);
    expect(iso(monthOf(at))).toBe('2025-02-01T00:00:00.000Z');
  });

  it('the hour, day and month of a moment nest', () => {
    const [hour, day, month] = windowsOf(d('2025-07-15T13:45:00Z'));
    expect(day.start <= hour.start && hour.end <= day.end).toBe(true);
    expect(month.start <= day.start && day.end <= month.end).toBe(true);
  });
});

describe('counting time', () => {
  const now = d('2025-05-10T12:30:00Z');

  it('is the usage time while its windows are open', () => {
    expect(iso(countingTime(d('2025-05-10T11:10:00Z'), d('2025-05-10T11:00:00Z'), now))).toBe(
      '2025-05-10T11:10:00.000Z',
    );
    expect(iso(countingTime(d('2025-05-01T00:00:00Z'), null, now))).toBe('2025-05-01T00:00:00.000Z');
  });

  it('moves late usage into the first open hour, never into a closed window', () => {
    const closedBefore = d('2025-05-10T12:00:00Z');
    expect(iso(countingTime(d('2025-05-10T11:59:59Z'), closedBefore, now))).toBe('2025-05-10T12:00:00.000Z');
    expect(iso(countingTime(d('2025-04-30T23:00:00Z'), closedBefore, now))).toBe('2025-05-10T12:00:00.000Z');
  });

  it('counts usage from the future now', () => {
    expect(iso(countingTime(d('2025-06-01T00:00:00Z'), d('2025-05-10T12:00:00Z'), now))).toBe(iso(now));
  });
});

describe('closable windows', () => {
  it('leaves the grace period to the hour that just ended', () => {
    expect(iso(closableBefore(d('2025-05-10T12:04:00Z'), 5 * 60_000))).toBe('2025-05-10T11:00:00.000Z');
    expect(iso(closableBefore(d('2025-05-10T12:05:00Z'), 5 * 60_000))).toBe('2025-05-10T12:00:00.000Z');
  });

  it('closes a month once the grace after its last hour is over', () => {
    expect(iso(closableBefore(d('2025-06-01T00:04:59Z'), 5 * 60_000))).toBe('2025-05-31T23:00:00.000Z');
    expect(iso(closableBefore(d('2025-06-01T00:05:00Z'), 5 * 60_000))).toBe('2025-06-01T00:00:00.000Z');
  });
});
