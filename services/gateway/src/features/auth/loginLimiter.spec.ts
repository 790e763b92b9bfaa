import { describe, expect, it } from 'vitest';
import { retryAfterSeconds } from './loginLimiter.js';

const window = 15 * 60_000;

describe('retryAfterSeconds', () => {
  it('allows attempts while the count is under the limit', () => {
    expect(retryAfterSeconds({ count: 0, remainingMs: -2 }, 5, window)).toBeUndefined();
    expect(retryAfterSeconds({ count: 4, remainingMs: 60_000 }, 5, window)).toBeUndefined();
  });

  it('blocks at the limit until the window ends, rounding up to whole seconds', () => {
    expect(retryAfterSeconds({ count: 5, remainingMs: 60_000 }, 5, window)).toBe(60);
    expect(retryAfterSeconds({ count: 9, remainingMs: 1_001 }, 5, window)).toBe(2);
    expect(retryAfterSeconds({ count: 5, remainingMs: 10 }, 5, window)).toBe(1);
  });

  it('assumes a whole window for a counter without expiry', () => {
    expect(retryAfterSeconds({ count: 5, remainingMs: -1 }, 5, window)).toBe(900);
  });
});
