import { describe, expect, it } from 'vitest';
import {
  type AfterExit,
  afterUnexpectedExit,
  defaultRestartPolicy,
  freshHistory,
  type RestartHistory,
} from '../../scripts/stack/restartPolicy.js';

const policy = defaultRestartPolicy;

/** Exits `count` times, each run lasting `runMs` and each restart after its delay. */
function crash(count: number, runMs: number): AfterExit[] {
  let history: RestartHistory = freshHistory();
  let clock = 0;
  const decisions: AfterExit[] = [];
  for (let i = 0; i < count; i++) {
    const startedAt = clock;
    clock += runMs;
    const decision = afterUnexpectedExit(history, startedAt, clock, policy);
    decisions.push(decision);
    history = decision.history;
    if (decision.action === 'restart') clock += decision.delayMs;
  }
  return decisions;
}

describe('afterUnexpectedExit', () => {
  it('backs off exponentially from 0.5 s', () => {
    const delays = crash(5, 100).map((d) => (d.action === 'restart' ? d.delayMs : undefined));
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000]);
  });

  it('caps the delay', () => {
    const lenient = { ...policy, maxRestarts: 100 };
    let history = freshHistory();
    let last: AfterExit | undefined;
    for (let i = 0; i < 10; i++) {
      last = afterUnexpectedExit(history, 0, 1, lenient);
      history = last.history;
    }
    expect(last).toMatchObject({ action: 'restart', delayMs: policy.maxDelayMs });
  });

  it('gives up past maxRestarts within the window: a crash loop', () => {
    const decisions = crash(6, 100);
    expect(decisions.slice(0, 5).every((d) => d.action === 'restart')).toBe(true);
    expect(decisions[5]).toMatchObject({ action: 'give-up', restartsInWindow: 5 });
  });

  it('a stable run resets the backoff, and restarts far apart never make a loop', () => {
    const decisions = crash(20, policy.stableAfterMs);
    expect(decisions.every((d) => d.action === 'restart' && d.delayMs === policy.initialDelayMs)).toBe(true);
  });
});
