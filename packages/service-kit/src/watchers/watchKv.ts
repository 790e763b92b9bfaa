import type { KV } from '@nats-io/kv';
import type { Logger } from '../logger.js';
import { type BackoffPolicy, backoffDelay, pause } from '../messaging.js';

export interface WatchKvOptions {
  kv: KV;
  /** Key or wildcard to follow, e.g. `>` or `*.state`. */
  key: string;
  /** Abort to stop; the promise resolves once the watch is closed. */
  signal: AbortSignal;
  logger: Logger;
  /** A key was put: its value parsed as JSON. */
  onPut: (key: string, value: unknown) => void;
  /** A key was deleted or purged. */
  onDelete: (key: string) => void;
  /** Names the bucket in log lines; default the key. */
  what?: string;
  /** Delay before watching again after a broken watch; default 500 ms doubling up to 15 s. */
  backoff?: BackoffPolicy;
}

/**
 * Follow a KV bucket until `signal` aborts: every current value first, then each change. A watch
 * that breaks (NATS restarting) is opened again and starts over with the current values, so the
 * callbacks must treat a put as "this is the value now" (idempotent). A value that is not JSON is
 * logged and skipped.
 */
export async function watchKv(options: WatchKvOptions): Promise<void> {
  const { kv, key, signal, logger } = options;
  const what = options.what ?? key;
  const backoff = options.backoff ?? { baseMs: 500, maxMs: 15_000 };
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const watch = await kv.watch({ key });
      const stop = () => watch.stop();
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const entry of watch) {
          attempt = 1;
          if (entry.operation !== 'PUT') {
            options.onDelete(entry.key);
            continue;
          }
          let value: unknown;
          try {
            value = entry.json();
          } catch (error) {
            logger.error({ err: error, key: entry.key }, `${what} value is not JSON; ignored`);
            continue;
          }
          options.onPut(entry.key, value);
        }
      } finally {
        signal.removeEventListener('abort', stop);
      }
    } catch (error) {
      if (!signal.aborted) logger.warn({ err: error, key }, `watching ${what} failed; watching again`);
    }
    if (!signal.aborted) await pause(backoffDelay(attempt, backoff), signal);
  }
}
