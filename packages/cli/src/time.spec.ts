import { describe, expect, it } from 'vitest';
import { UsageError } from './errors.js';
import { formatDuration, formatTime, parseSince } from './time.js';

describe('parseSince', () => {
  const now = new Date('2025-05-08T12:00:00.000Z');

  it('reads an age back from now', () => {
    expect(parseSince('1h', now)).toBe('2025-05-08T11:00:00.000Z');
    expect(parseSince('24h', now)).toBe('2025-05-07T12:00:00.000Z');
    expect(parseSince('7d', now)).toBe('2025-05-01T12:00:00.000Z');
    expect(parseSince('30m', now)).toBe('2025-05-08T11:30:00.000Z');
  });

  it('reads a timestamp', () => {
    expect(parseSince('2025-05-01T10:00:00Z', now)).toBe('2025-05-01T10:00:00.000Z');
  });

  it('refuses anything else with a usage error', () => {
    expect(() => parseSince('yesterday', now)).toThrow(UsageError);
    expect(() => parseSince('3y', now)).toThrow(/neither a time/);
  });
});

describe('formatDuration', () => {
  it('picks a unit a person reads at a glance', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(3_240)).toBe('3.2 s');
    expect(formatDuration(125_000)).toBe('2 m 05 s');
    expect(formatDuration(3_720_000)).toBe('1 h 02 m');
  });
});

describe('formatTime', () => {
  it('shows UTC to the second, and a dash for nothing', () => {
    expect(formatTime('2025-05-01T10:00:00.123Z')).toBe('2025-05-01 10:00:00');
    expect(formatTime(null)).toBe('-');
  });
});
