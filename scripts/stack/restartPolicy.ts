/**
 * When `npm start` restarts a service that exited on its own, and when it gives up. Pure.
 *
 * Restart k (1-based, counted since the service last ran stably) waits
 * min(maxDelayMs, initialDelayMs x 2^(k-1)): 0.5 s, 1 s, 2 s, 4 s, ... capped at 15 s. A run that
 * lasted `stableAfterMs` resets the count. More than `maxRestarts` restarts within `windowMs` is a
 * crash loop: the stack stops and says so.
 */
export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  stableAfterMs: number;
  maxRestarts: number;
  windowMs: number;
}

export const defaultRestartPolicy: RestartPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  stableAfterMs: 30_000,
  maxRestarts: 5,
  windowMs: 60_000,
};

/** One supervised process's restart history. */
export interface RestartHistory {
  /** Restarts since it last ran for `stableAfterMs`. */
  attempt: number;
  /** When each restart within the last `windowMs` happened (ms). */
  restarts: number[];
}

export const freshHistory = (): RestartHistory => ({ attempt: 0, restarts: [] });

export type AfterExit =
  | { action: 'restart'; delayMs: number; attempt: number; history: RestartHistory }
  | { action: 'give-up'; restartsInWindow: number; history: RestartHistory };

/** What to do when a process that started at `startedAt` exited unexpectedly at `now`. */
export function afterUnexpectedExit(
  history: RestartHistory,
  startedAt: number,
  now: number,
  policy: RestartPolicy = defaultRestartPolicy,
): AfterExit {
  const attempt = now - startedAt >= policy.stableAfterMs ? 1 : history.attempt + 1;
  const restarts = history.restarts.filter((at) => now - at < policy.windowMs);
  if (restarts.length >= policy.maxRestarts) {
    return { action: 'give-up', restartsInWindow: restarts.length, history: { attempt, restarts } };
  }
  const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  return { action: 'restart', delayMs, attempt, history: { attempt, restarts: [...restarts, now] } };
}
