import { pause } from '../messaging.js';
import { isTransientDatabaseError } from '../postgres.js';

/** One step of a saga: an idempotent effect on the world, and what to record once it is done. */
export interface SagaStep<Step extends string, Outcome> {
  step: Step;
  run: () => Promise<Outcome>;
}

/** Why a saga stopped short: a step threw, or its outcome said the step failed. */
export type SagaFailure<Outcome> = { error: unknown } | { outcome: Outcome };

export interface SagaOptions<Step extends string, Outcome> {
  /** The steps in order. `run` may read state that `complete` updates: steps run one after the other. */
  steps: readonly SagaStep<Step, Outcome>[];
  /** Steps whose event is in the aggregate already are skipped (a redelivery picks up where it stopped). */
  isDone: (step: Step) => boolean;
  /** Whether to go on at all (checked before each step): the aggregate may have ended meanwhile. */
  isRunning?: () => boolean;
  /** Record a step (append its event). */
  complete: (step: Step, outcome: Outcome) => Promise<void>;
  /** An outcome that is a failure of its step (a verification that found differences). */
  isFailure?: (outcome: Outcome) => boolean;
  /** Undo what the saga made, and record the failure. Runs at most once per call. */
  compensate: (step: Step, failure: SagaFailure<Outcome>) => Promise<void>;
  /** An error no retry changes (a refusal): compensated at once. */
  isPermanent?: (error: unknown) => boolean;
  /** Attempts of a step inside this call before it counts as failed (default 1); the delay doubles, jittered. */
  attempts?: number;
  retryDelayMs?: number;
  /**
   * An error that says "try again later", a dependency away for a while (default:
   * `isTransientDatabaseError`: SQLSTATE classes 08 and 53, 57P01–57P03, 40001, lost or refused
   * connections; the provisioner adds NATS electing a leader). It is retried with backoff up to
   * `transientAttempts` times, apart from `attempts`. Past that it is left to the command's
   * redelivery unless this is the last delivery; then the saga stalls (`onStalled`: nothing is
   * undone, a retry resumes), or, without `onStalled`, compensates. An outage is no reason to
   * undo the work.
   */
  isTransient?: (error: unknown) => boolean;
  /** Attempts of a step while its error stays transient (default 8); the delay doubles up to `maxRetryDelayMs`. */
  transientAttempts?: number;
  /** Longest delay between two attempts (default 5 s). */
  maxRetryDelayMs?: number;
  /**
   * A transient error outlasted every attempt (on the command's last delivery, or when the saga
   * is not redelivered): record the stop WITHOUT undoing anything, so a retry resumes at `step`.
   */
  onStalled?: (step: Step, error: unknown) => Promise<void>;
  onRetry?: (step: Step, attempt: number, error: unknown) => void;
  /**
   * Set when the saga runs for a command delivered by JetStream: a failure that is not
   * permanent is rethrown (the command's redelivery runs the saga again) unless this is the
   * command's last delivery, when it compensates. Unset: every failure compensates.
   */
  lastDelivery?: boolean;
  /**
   * Which failures wait for the next delivery (with `lastDelivery: false`): every failure that
   * is not permanent (`all`, the default), or only transient ones (`transient`: any other
   * failure compensates once its `attempts` are spent, whatever the delivery).
   */
  redeliver?: 'all' | 'transient';
  /**
   * From this step on there is no way back: once it ran (unless it was refused, which changes
   * nothing), a failure is never compensated, only rethrown for the next delivery.
   */
  pointOfNoReturn?: Step;
  /** Past the point of no return on the last delivery, before the error is rethrown. */
  onAbandon?: (step: Step, error: unknown) => Promise<void>;
  /** Between a step's effect and its record: the riskiest moment to crash (tests hook here). */
  afterStep?: (step: Step) => void | Promise<void>;
}

export type SagaResult<Step extends string> =
  | { status: 'done' }
  | { status: 'failed'; step: Step }
  /** Stopped on a transient error with nothing undone (`onStalled`): a retry resumes at `step`. */
  | { status: 'stalled'; step: Step };

/**
 * Run a saga's remaining steps: each effect, then its record. A failed step is retried up to
 * `attempts` times here, then either compensated or left to the command's redelivery (see
 * `lastDelivery` and `pointOfNoReturn`). Steps must be idempotent: a crash between an effect
 * and its record runs the effect again.
 */
export async function runSaga<Step extends string, Outcome>(
  options: SagaOptions<Step, Outcome>,
): Promise<SagaResult<Step>> {
  const steps = options.steps;
  const noReturn =
    options.pointOfNoReturn === undefined ? -1 : steps.findIndex((s) => s.step === options.pointOfNoReturn);
  const passedNoReturn = () => noReturn >= 0 && options.isDone(steps[noReturn]!.step);
  for (const [index, { step, run }] of steps.entries()) {
    if (options.isRunning && !options.isRunning()) break;
    if (options.isDone(step)) continue;
    let outcome: Outcome;
    try {
      outcome = await withAttempts(step, run, options);
    } catch (error) {
      const permanent = options.isPermanent?.(error) ?? false;
      const transient = !permanent && isTransient(options, error);
      if (transient && options.onStalled && options.lastDelivery !== false) {
        await options.onStalled(step, error);
        return { status: 'stalled', step };
      }
      // A refused step changed nothing, so refusing the point of no return still rolls back.
      const irreversible = passedNoReturn() || (index === noReturn && !permanent);
      const redeliverable =
        !permanent &&
        (options.lastDelivery === false
          ? transient || options.redeliver !== 'transient'
          : transient && options.lastDelivery === undefined);
      if (irreversible || redeliverable) {
        if (irreversible && options.lastDelivery) await options.onAbandon?.(step, error);
        throw error;
      }
      await options.compensate(step, { error });
      return { status: 'failed', step };
    }
    if (options.isFailure?.(outcome)) {
      await options.compensate(step, { outcome });
      return { status: 'failed', step };
    }
    await options.afterStep?.(step);
    await options.complete(step, outcome);
  }
  return { status: 'done' };
}

async function withAttempts<Step extends string, Outcome>(
  step: Step,
  run: () => Promise<Outcome>,
  options: SagaOptions<Step, Outcome>,
): Promise<Outcome> {
  const attempts = options.attempts ?? 1;
  const transientAttempts = options.transientAttempts ?? 8;
  const maxDelay = options.maxRetryDelayMs ?? 5_000;
  const firstDelay = options.retryDelayMs ?? 0;
  let failures = 0;
  let transientFailures = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (isTransient(options, error)) {
        transientFailures++;
        if (transientFailures >= transientAttempts) throw error;
      } else {
        failures++;
        if (failures >= attempts || options.isPermanent?.(error)) throw error;
      }
      options.onRetry?.(step, attempt, error);
      // Transient errors back off from at least 100 ms even when `retryDelayMs` is 0 (tests).
      const base = Math.max(firstDelay, transientFailures > 0 ? 100 : 0);
      const delay = Math.min(maxDelay, base * 2 ** (attempt - 1));
      await pause(delay * (0.5 + Math.random()));
    }
  }
}

function isTransient<Step extends string, Outcome>(options: SagaOptions<Step, Outcome>, error: unknown): boolean {
  return (options.isTransient ?? isTransientDatabaseError)(error);
}
