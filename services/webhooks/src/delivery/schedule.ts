/**
 * What happens after an attempt: pure arithmetic over the retry schedule and the endpoint's
 * failure streak, so the dispatcher only does I/O.
 */

export interface RetryPolicy {
  /** Delays between attempts after the first: `[5s, 5m, ...]` gives delays.length + 1 attempts. */
  delaysMs: readonly number[];
}

/** After `attempts` failed attempts: when to try again, or undefined when the retries are spent. */
export function nextAttemptDelay(attempts: number, policy: RetryPolicy): number | undefined {
  if (attempts < 1) return 0;
  return policy.delaysMs[attempts - 1];
}

export interface DisablePolicy {
  /** The streak must last this long... */
  afterMs: number;
  /** ...and count at least this many failures. */
  minFailures: number;
}

/** True when an endpoint's failure streak is long enough to disable it. */
export function shouldDisable(
  streak: { consecutiveFailures: number; failingSince: Date },
  now: Date,
  policy: DisablePolicy,
): boolean {
  return (
    streak.consecutiveFailures >= policy.minFailures && now.getTime() - streak.failingSince.getTime() >= policy.afterMs
  );
}
