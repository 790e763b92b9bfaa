import { setTimeout as sleep } from 'node:timers/promises';
import type { Operation, ProvisioningState, ProvisioningStatus } from './api.js';
import type { TtmClient } from './client.js';
import { UsageError } from './errors.js';

export interface WatchOptions {
  tenantId: string;
  pollIntervalMs?: number;
  /** Told once, with the reason, when the event stream cannot be used and polling takes over. */
  onFallback?: (reason: string) => void;
  /** Stops watching; the watch then throws the signal's reason. */
  signal?: AbortSignal;
}

export const isTerminal = (status: ProvisioningStatus) => status === 'active' || status === 'failed';

/**
 * Every change of a provisioning until it is active or failed: from the operation's event
 * stream, or, when that is unavailable or breaks off, by polling the provisioning status.
 */
export async function* watchProvisioning(
  client: TtmClient,
  provisioningId: string,
  options: WatchOptions,
): AsyncGenerator<ProvisioningState> {
  const id = encodeURIComponent(provisioningId);
  const { signal } = options;
  let last: ProvisioningState | undefined;
  try {
    for await (const event of client.events(`/api/operations/${id}/events`, signal)) {
      if (event.event !== 'operation' && event.event !== 'message') continue;
      last = fromOperation(JSON.parse(event.data) as Operation, provisioningId, options.tenantId);
      yield last;
      if (isTerminal(last.status)) return;
    }
    options.onFallback?.('the event stream ended early');
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof UsageError) throw error;
    options.onFallback?.(error instanceof Error ? error.message : String(error));
  }
  for (;;) {
    const state = await client.get<ProvisioningState>(`/api/auth/provisioning-status/${id}`, { signal });
    if (!last || changed(last, state)) yield state;
    last = state;
    if (isTerminal(state.status)) return;
    await sleep(options.pollIntervalMs ?? 250, undefined, { signal }).catch(() => signal?.throwIfAborted());
  }
}

/** An operation seen as the provisioning status the polling endpoint would have answered. */
export function fromOperation(op: Operation, provisioningId: string, tenantId: string): ProvisioningState {
  const status: ProvisioningStatus =
    op.status === 'succeeded' ? 'active' : op.status === 'running' ? 'provisioning' : op.status;
  return {
    provisioning_id: provisioningId,
    tenant_id: op.result?.tenant_id ?? tenantId,
    status,
    progress: op.progress,
    step: op.step,
    slug: op.result?.slug ?? null,
    ...(op.error === undefined ? {} : { error: op.error }),
  };
}

const changed = (a: ProvisioningState, b: ProvisioningState) =>
  a.status !== b.status || a.progress !== b.progress || a.step !== b.step;
