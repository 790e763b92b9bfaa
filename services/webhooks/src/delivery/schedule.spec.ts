import { describe, expect, it } from 'vitest';
import { nextAttemptDelay, shouldDisable } from './schedule.js';

const policy = { delaysMs: [5_000, 300_000, 1_800_000] };

describe('retry schedule', () => {
  it('walks the delays, then gives up', () => {
    expect(nextAttemptDelay(1, policy)).toBe(5_000);
    expect(nextAttemptDelay(2, policy)).toBe(300_000);
    expect(nextAttemptDelay(3, policy)).toBe(1_800_000);
    expect(nextAttemptDelay(4, policy)).toBeUndefined();
  });
});

describe('auto-disable', () => {
  const since = new Date('2026-01-01T00:00:00Z');
  const rule = { afterMs: 3_600_000, minFailures: 3 };

  it('needs both a long streak and enough failures', () => {
    const later = new Date(since.getTime() + 3_600_000);
    expect(shouldDisable({ consecutiveFailures: 3, failingSince: since }, later, rule)).toBe(true);
    expect(shouldDisable({ consecutiveFailures: 2, failingSince: since }, later, rule)).toBe(false);
    expect(shouldDisable({ consecutiveFailures: 30, failingSince: since }, new Date(later.getTime() - 1), rule)).toBe(
      false,
    );
  });
});
