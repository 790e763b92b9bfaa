/** Waiting in the benches: polls for a condition, never a fixed sleep standing in for one. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Poll `check` every `everyMs` until it returns a value (not `undefined`, not `false`) and return
 * that value. An error `check` throws ends the wait (a failed provisioning, say); after
 * `timeoutMs` it throws.
 */
export async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    await sleep(everyMs);
  }
  throw new Error(`not done within ${timeoutMs} ms`);
}

/** Poll `url` until it answers 200; refused connections are waited out while the server comes up. */
export async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}
