import { describe, expect, it } from 'vitest';
import {
  dueInWindow,
  parseBackupWindow,
  WINDOW_SPREAD,
  windowAround,
  windowBackupId,
  windowLengthMs,
} from './window.js';

const tenants = Array.from({ length: 400 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
const at = (iso: string) => new Date(iso);

describe('backup window', () => {
  it('parses HH:MM and HH:MM:SS ranges, and names what is wrong otherwise', () => {
    expect(parseBackupWindow('01:00-05:00')).toMatchObject({ startMs: 3_600_000, endMs: 18_000_000 });
    expect(parseBackupWindow(' 23:30:15-00:10 ')).toMatchObject({
      startMs: (23 * 3600 + 30 * 60 + 15) * 1000,
      endMs: 600_000,
    });
    for (const bad of [
      '1:00-5:00',
      '01:00',
      '01:00-05:00-06:00',
      '24:00-01:00',
      '01:60-02:00',
      'night',
      '02:00-02:00',
    ]) {
      expect(() => parseBackupWindow(bad), bad).toThrow(/01:00-05:00|empty window/);
    }
  });

  it('finds the occurrence around a time, also across midnight', () => {
    const night = parseBackupWindow('01:00-05:00');
    expect(windowAround(night, at('2026-03-02T00:59:59Z'))).toBeUndefined();
    expect(windowAround(night, at('2026-03-02T05:00:00Z'))).toBeUndefined();
    const inside = windowAround(night, at('2026-03-02T03:00:00Z'))!;
    expect(inside.start.toISOString()).toBe('2026-03-02T01:00:00.000Z');
    expect(inside.end.toISOString()).toBe('2026-03-02T05:00:00.000Z');

    const late = parseBackupWindow('23:00-02:00');
    expect(windowLengthMs(late)).toBe(3 * 3_600_000);
    const beforeMidnight = windowAround(late, at('2026-03-02T23:30:00Z'))!;
    const afterMidnight = windowAround(late, at('2026-03-03T01:30:00Z'))!;
    expect(afterMidnight).toEqual(beforeMidnight);
    expect(afterMidnight.start.toISOString()).toBe('2026-03-02T23:00:00.000Z');
    expect(windowAround(late, at('2026-03-03T02:00:00Z'))).toBeUndefined();
  });

  it('spreads the fleet evenly over the first part of the window', () => {
    const occurrence = windowAround(parseBackupWindow('01:00-05:00'), at('2026-03-02T01:00:00Z'))!;
    const spreadMs = 4 * 3_600_000 * WINDOW_SPREAD;
    const offsets = tenants.map((t) => dueInWindow(t, occurrence).getTime() - occurrence.start.getTime());
    for (const o of offsets) expect(o >= 0 && o < spreadMs).toBe(true);
    // Each of 4 quarters of the spread gets its share (100 of 400 expected; binomial spread is about 9).
    const quarters = [0, 0, 0, 0];
    for (const o of offsets) quarters[Math.floor((o / spreadMs) * 4)]!++;
    for (const q of quarters) expect(q).toBeGreaterThan(60);
  });

  it('gives a tenant one backup id per night, a new one the next night', () => {
    const window = parseBackupWindow('23:00-02:00');
    const first = windowAround(window, at('2026-03-02T23:10:00Z'))!;
    const sameNight = windowAround(window, at('2026-03-03T01:50:00Z'))!;
    const nextNight = windowAround(window, at('2026-03-03T23:10:00Z'))!;
    const t = tenants[0]!;
    expect(windowBackupId(t, sameNight)).toBe(windowBackupId(t, first));
    expect(windowBackupId(t, nextNight)).not.toBe(windowBackupId(t, first));
    expect(windowBackupId(tenants[1]!, first)).not.toBe(windowBackupId(t, first));
    // Which tenants go first changes from night to night.
    const order = (o: typeof first) =>
      [...tenants].sort((a, b) => dueInWindow(a, o).getTime() - dueInWindow(b, o).getTime()).slice(0, 20);
    expect(order(nextNight)).not.toEqual(order(first));
  });
});
