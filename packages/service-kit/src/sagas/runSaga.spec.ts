import { describe, expect, it } from 'vitest';
import { runSaga, type SagaOptions } from './runSaga.js';

type Step = 'a' | 'b';
const tooManyClients = () => Object.assign(new Error('sorry, too many clients already'), { code: '53300' });

function saga(
  failures: Partial<Record<Step, (attempt: number) => Error | undefined>>,
  extra: Partial<SagaOptions<Step, void>> = {},
) {
  const done: Step[] = [];
  const calls: Record<Step, number> = { a: 0, b: 0 };
  const log: string[] = [];
  const options: SagaOptions<Step, void> = {
    steps: (['a', 'b'] as const).map((step) => ({
      step,
      run: async () => {
        calls[step]++;
        const error = failures[step]?.(calls[step]);
        if (error) throw error;
      },
    })),
    isDone: (step) => done.includes(step),
    complete: async (step) => {
      done.push(step);
    },
    compensate: async (step) => {
      log.push(`compensate ${step}`);
    },
    retryDelayMs: 0,
    maxRetryDelayMs: 1,
    ...extra,
  };
  return { options, done, calls, log };
}

describe('runSaga', () => {
  it('retries a step while its database error is transient, apart from its ordinary attempts', async () => {
    const { options, done, calls } = saga({ b: (n) => (n <= 3 ? tooManyClients() : undefined) }, { attempts: 1 });
    await expect(runSaga(options)).resolves.toEqual({ status: 'done' });
    expect(done).toEqual(['a', 'b']);
    expect(calls.b).toBe(4);
  });

  it('stalls without compensating when a transient error outlasts every attempt', async () => {
    const stalled: Step[] = [];
    const { options, done, log } = saga(
      { b: () => tooManyClients() },
      { transientAttempts: 3, onStalled: async (step) => void stalled.push(step) },
    );
    await expect(runSaga(options)).resolves.toEqual({ status: 'stalled', step: 'b' });
    expect(done).toEqual(['a']);
    expect(stalled).toEqual(['b']);
    expect(log).toEqual([]);
  });

  it('leaves a transient failure to the redelivery when the command will come again', async () => {
    const { options, log } = saga(
      { a: () => tooManyClients() },
      { transientAttempts: 2, lastDelivery: false, onStalled: async () => undefined },
    );
    await expect(runSaga(options)).rejects.toThrow('too many clients');
    expect(log).toEqual([]);
  });

  it('compensates an error that is not transient once its attempts are spent', async () => {
    const { options, log } = saga({ b: () => new Error('plan gold is not configured') }, { attempts: 2 });
    await expect(runSaga(options)).resolves.toEqual({ status: 'failed', step: 'b' });
    expect(log).toEqual(['compensate b']);
  });
});
