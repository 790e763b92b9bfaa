import { QuotasOverridden } from '@ttm/contracts';
import { describe, expect, it } from 'vitest';
import { foldOverrides, levelOf, monthStart } from './quotaReader.js';
import { usageRange, windowStartOf } from './usage.js';

const overridden = (limits: Record<string, number | null>) => ({ type: QuotasOverridden.type, data: { limits } });

describe('foldOverrides', () => {
  it('keeps absent limits, replaces with numbers, restores with null', () => {
    expect(
      foldOverrides([
        overridden({ users: 10, api_calls_per_month: 500 }),
        { type: 'ttm.quota.warning.v1', data: {} },
        overridden({ api_calls_per_month: null, storage_bytes: 2048 }),
      ]),
    ).toEqual({ users: 10, storage_bytes: 2048 });
  });
});

describe('levelOf', () => {
  it('is exceeded at the limit, warning from the threshold', () => {
    expect(levelOf(79, 100, 80)).toBe('ok');
    expect(levelOf(80, 100, 80)).toBe('warning');
    expect(levelOf(100, 100, 80)).toBe('exceeded');
  });
});

describe('usage ranges', () => {
  const now = new Date('2026-03-15T10:20:30Z');

  it('aligns windows in UTC', () => {
    expect(windowStartOf(now, 'hour').toISOString()).toBe('2026-03-15T10:00:00.000Z');
    expect(windowStartOf(now, 'day').toISOString()).toBe('2026-03-15T00:00:00.000Z');
    expect(windowStartOf(now, 'month').toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(monthStart(now)).toBe('2026-03-01T00:00:00.000Z');
  });

  it('defaults per granularity and aligns from down', () => {
    expect(usageRange({ granularity: 'hour' }, now)).toEqual({
      from: new Date('2026-03-14T10:00:00Z'),
      to: now,
    });
    expect(usageRange({ granularity: 'day' }, now).from.toISOString()).toBe('2026-02-13T00:00:00.000Z');
    expect(usageRange({ granularity: 'month' }, now).from.toISOString()).toBe('2025-04-01T00:00:00.000Z');
  });

  it('refuses empty and too long ranges', () => {
    expect(() =>
      usageRange({ granularity: 'day', from: '2026-03-15T00:00:00Z', to: '2026-03-15T00:00:00Z' }, now),
    ).toThrow(/before/);
    expect(() => usageRange({ granularity: 'hour', from: '2026-01-01T00:00:00Z' }, now)).toThrow(/31 days/);
  });
});
