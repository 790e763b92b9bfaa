import { setTimeout as sleep } from 'node:timers/promises';
import type { TtmClient } from './client.js';
import type { Context } from './context.js';
import { ApiError, UsageError } from './errors.js';
import { followWithProgress } from './progressView.js';

/** An operation as `GET /api/operations/{id}` answers it (backup, restore, verification, migration). */
export interface OperationState {
  id: string;
  kind: string;
  tenant_id?: string;
  backup_id?: string;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  progress: number;
  step: string | null;
  started_at?: string;
  updated_at?: string;
  result?: Record<string, unknown>;
  error?: string;
  source?: Record<string, unknown> | null;
  target?: Record<string, unknown> | null;
}

export const isOver = (op: OperationState) => op.status === 'succeeded' || op.status === 'failed';

export interface WatchOperationOptions {
  pollIntervalMs?: number;
  /** How long an operation id the gateway does not know yet (just accepted) is asked for again. */
  unknownGraceMs?: number;
  onFallback?: (reason: string) => void;
  signal?: AbortSignal;
}

/**
 * Every change of an operation until it succeeded or failed: from `/api/operations/{id}/events`
 * (Server-Sent Events), or, when the stream is unavailable or breaks off, by polling
 * `/api/operations/{id}`. A 404 right after the 202 (the service has not recorded it yet) is
 * asked again for a moment.
 */
export async function* watchOperation(
  client: TtmClient,
  operationId: string,
  options: WatchOperationOptions = {},
): AsyncGenerator<OperationState> {
  const path = `/api/operations/${encodeURIComponent(operationId)}`;
  const { signal } = options;
  let last: OperationState | undefined;
  try {
    for await (const event of client.events(`${path}/events`, signal)) {
      if (event.event !== 'operation' && event.event !== 'message') continue;
      last = JSON.parse(event.data) as OperationState;
      yield last;
      if (isOver(last)) return;
    }
    options.onFallback?.('the event stream ended early');
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof UsageError) throw error;
    if (!(error instanceof ApiError && error.status === 404)) {
      options.onFallback?.(error instanceof Error ? error.message : String(error));
    }
  }
  const unknownUntil = Date.now() + (options.unknownGraceMs ?? 5_000);
  for (;;) {
    let state: OperationState | undefined;
    try {
      state = await client.get<OperationState>(path, { signal });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404 && Date.now() < unknownUntil)) throw error;
    }
    if (state) {
      if (!last || changed(last, state)) yield state;
      last = state;
      if (isOver(state)) return;
    }
    await sleep(options.pollIntervalMs ?? 250, undefined, { signal }).catch(() => signal?.throwIfAborted());
  }
}

const changed = (a: OperationState, b: OperationState) =>
  a.status !== b.status || a.progress !== b.progress || a.step !== b.step;

/**
 * Follow an accepted operation to its end with a progress bar (a line per change off a
 * terminal, nothing with --json) on stderr. Resolves with the last state and the time taken;
 * throws a one-line error when the deadline passes first.
 */
export async function followOperation(
  ctx: Context,
  operationId: string,
  what: string,
  timeoutMs: number,
): Promise<{ final: OperationState; durationMs: number }> {
  const started = performance.now();
  const final = await followWithProgress(
    ctx.json,
    (options) => watchOperation(ctx.client, operationId, options),
    timeoutMs,
    { name: `${what} ${operationId}`, checkLater: `GET /api/operations/${operationId}` },
  );
  return { final, durationMs: performance.now() - started };
}
