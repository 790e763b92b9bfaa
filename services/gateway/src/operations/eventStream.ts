import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestIdHeader } from '../plugins/requestId.js';
import { isTerminal, type Operation, operationChanged, provisioningOperation } from './operation.js';
import type { OperationTracker } from './tracker.js';

export const HEARTBEAT_INTERVAL_MS = 15_000;

export interface StreamOperationOptions {
  request: FastifyRequest;
  reply: FastifyReply;
  tracker: OperationTracker;
  /** The operation as it stands; sent at once. */
  first: Operation;
  /** Where the stream registers its `end`, so the server can close every stream when it stops. */
  openStreams: Set<() => void>;
}

/**
 * Serve an operation as Server-Sent Events: `event: operation` with the operation as JSON,
 * now and after each change the directory reports (no polling), a comment line as a
 * heartbeat, and the end of the stream once the operation succeeded or failed. A client
 * that leaves takes its watcher and timer with it.
 */
export function streamOperation({ request, reply, tracker, first, openStreams }: StreamOperationOptions): void {
  reply.hijack();
  const response = reply.raw;
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx and similar proxies buffer responses unless told not to.
    'x-accel-buffering': 'no',
    [requestIdHeader]: request.id,
  });

  let last: Operation | undefined;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    stopWatching();
    clearInterval(heartbeat);
    openStreams.delete(end);
    response.off('close', end);
    if (!response.writableEnded) response.end();
  };
  const send = (operation: Operation) => {
    if (ended || !operationChanged(last, operation)) return;
    last = operation;
    response.write(`event: operation\ndata: ${JSON.stringify(operation)}\n\n`);
    if (isTerminal(operation.status)) end();
  };

  const stopWatching = tracker.watchOperation(first.id, (entry, event) => {
    send(provisioningOperation(entry, { startedAt: first.started_at, updatedAt: event.meta.time }));
  });
  const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), HEARTBEAT_INTERVAL_MS);
  openStreams.add(end);
  response.once('close', end);
  send(first);
}
