import { expect } from 'vitest';

/** Holds a handler mid-message, to see what stopping does with the message in hand. */
export interface HandlerGate {
  /** Resolves once a handler called `hold`. */
  entered: Promise<void>;
  /** Called inside the handler: marks it entered, then waits until `release`. */
  hold(): Promise<void>;
  release(): void;
}

export function handlerGate(): HandlerGate {
  let enter!: () => void;
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  let release!: () => void;
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    entered,
    hold: async () => {
      enter();
      await opened;
    },
    release,
  };
}

/**
 * Stop a runner whose handler `gate` holds: the stop is still pending a while later (it waits
 * for the message in hand), and resolves once the gate opens.
 */
export async function expectStopWaitsForHeldHandler(
  runner: { done: Promise<unknown>; stop(): Promise<unknown> },
  gate: HandlerGate,
): Promise<void> {
  let resolved = false;
  void runner.done.then(() => {
    resolved = true;
  });
  const stopping = runner.stop();
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(resolved).toBe(false);
  gate.release();
  await stopping;
}
