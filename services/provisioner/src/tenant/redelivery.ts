import type { BackoffPolicy } from '@ttm/service-kit';

/**
 * How long a provisioning waits out a dependency that is away (PostgreSQL restarting, NATS
 * electing a leader) before it stalls as failed and resumable. Two layers:
 * - inside one delivery, a step whose error is transient is tried `STEP_TRANSIENT.attempts`
 *   times, the pause doubling from at least 100 ms up to `maxDelayMs`, each jittered 0.5x-1.5x;
 * - then the command is redelivered (nak with a delay, `COMMAND_REDELIVERY`, equal jitter so every
 *   delay is at least half its ceiling), up to the consumer's `max_deliver` (20 in @ttm/contracts).
 * Only the last delivery stalls. Nothing is undone on the way, and every step is idempotent, so
 * waiting longer never makes a second tenant or workspace.
 */
export const STEP_TRANSIENT = { attempts: 8, maxDelayMs: 5_000, leastFirstDelayMs: 100 } as const;

/** Delays between deliveries of a provisioner command whose handler failed: 1 s doubling up to 15 s. */
export const COMMAND_REDELIVERY: BackoffPolicy = { baseMs: 1_000, maxMs: 15_000, jitter: 'equal' };

/**
 * The shortest outage that can stall a registration: every delivery but one spends at least the
 * jittered minimum of its in-process pauses (one may fail outside a step, with no pause: forgetting
 * the password hash right after the workspace's record), and every redelivery delay is at least
 * half its ceiling. A redelivery after an ack wait (a provisioner killed meanwhile) uses up a
 * delivery without these pauses, so each such crash shortens the bound by one delivery's share.
 */
export function leastOutageBeforeStallMs(maxDeliver: number): number {
  let inProcess = 0;
  for (let attempt = 1; attempt < STEP_TRANSIENT.attempts; attempt++) {
    inProcess += 0.5 * Math.min(STEP_TRANSIENT.maxDelayMs, STEP_TRANSIENT.leastFirstDelayMs * 2 ** (attempt - 1));
  }
  let redelivery = 0;
  for (let delivery = 1; delivery < maxDeliver; delivery++) {
    const ceiling = Math.min(COMMAND_REDELIVERY.maxMs, COMMAND_REDELIVERY.baseMs * 2 ** (delivery - 1));
    redelivery += COMMAND_REDELIVERY.jitter === 'equal' ? ceiling / 2 : COMMAND_REDELIVERY.baseMs / 2;
  }
  return Math.max(0, maxDeliver - 1) * inProcess + redelivery;
}
