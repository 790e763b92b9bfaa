import { describe, expect, it } from 'vitest';
import { scheduledBackupId, scheduledSlot } from './slots.js';

const HOUR = 3_600_000;
const a = '0b7c4a52-6f1e-4c1a-9d3e-2f5a8b9c0d1e';
const b = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d';

describe('scheduled backup slots', () => {
  it('moves to the next slot once per interval', () => {
    const start = new Date('2025-03-01T00:00:00Z');
    const slots = Array.from({ length: 24 * 6 }, (_, i) =>
      scheduledSlot(a, HOUR, new Date(start.getTime() + i * 600_000)),
    );
    expect(new Set(slots).size).toBeGreaterThanOrEqual(24);
    expect(new Set(slots).size).toBeLessThanOrEqual(25);
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeLessThanOrEqual(1);
  });

  it('gives one backup id per tenant and slot', () => {
    expect(scheduledBackupId(a, HOUR, 7)).toBe(scheduledBackupId(a, HOUR, 7));
    expect(scheduledBackupId(a, HOUR, 7)).not.toBe(scheduledBackupId(a, HOUR, 8));
    expect(scheduledBackupId(a, HOUR, 7)).not.toBe(scheduledBackupId(b, HOUR, 7));
    expect(scheduledBackupId(a, HOUR, 7)).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('spreads tenants over the interval', () => {
    const now = new Date('2025-03-01T00:30:00Z');
    const tenants = Array.from({ length: 200 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const boundaries = tenants.map((t) => {
      // Minutes until this tenant's next slot begins.
      const slot = scheduledSlot(t, HOUR, now);
      let m = 0;
      while (scheduledSlot(t, HOUR, new Date(now.getTime() + m * 60_000)) === slot) m++;
      return m;
    });
    expect(new Set(boundaries).size).toBeGreaterThan(30);
  });
});
