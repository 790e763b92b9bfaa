import { describe, expect, it } from 'vitest';
import { UpgradePace } from './pace.js';

describe('UpgradePace', () => {
  it('spaces starts 1/rate apart, whoever asks', () => {
    const pace = new UpgradePace(20);
    expect([pace.take(1000), pace.take(1000), pace.take(1000), pace.take(1010)]).toEqual([0, 50, 100, 140]);
  });

  it('saves no unused time: after a quiet spell the next start is now, then 1/rate again', () => {
    const pace = new UpgradePace(10);
    expect(pace.take(0)).toBe(0);
    expect(pace.take(5000)).toBe(0);
    expect(pace.take(5000)).toBe(100);
  });

  it('does not cap at 0 or Infinity', () => {
    for (const rate of [0, Number.POSITIVE_INFINITY]) {
      const pace = new UpgradePace(rate);
      expect([pace.take(0), pace.take(0), pace.take(0)]).toEqual([0, 0, 0]);
    }
  });

  it('returns at once when aborted', async () => {
    const pace = new UpgradePace(0.001);
    await pace.wait();
    const abort = new AbortController();
    abort.abort();
    await pace.wait(abort.signal); // would wait 1,000 s
  });
});
