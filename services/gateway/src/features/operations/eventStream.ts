import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestIdHeader } from '../../plugins/requestId.js';
import { type AnyOperation, isTerminal, operationChanged } from './operation.js';

export const HEARTBEAT_INTERVAL_MS = 15_000;

export interface StreamOperationOptions {
  request: FastifyRequest;
  reply: FastifyReply;
  /** Calls back with the operation after each of its changes; returns the function that stops it. */
  watch: (send: (operation: AnyOperation) => void) => () => void;
  /** The operation as it stands; sent at once. */
  first: AnyOperation;
  /** Where the stream registers its `end`, so the server can close every stream when it stops. */
  openStreams: Set<() => void>;
}

/**
 * Serve an operation as Server-Sent Events: `event: operation` with the operation as JSON,
 * now and after each change reported (no polling), a comment line as a
 * heartbeat, and the end of the stream once the operation succeeded or failed. A client
 * that leaves takes its watcher and timer with it.
 */
export function streamOperation({ request, reply, watch, first, openStreams }: StreamOperationOptions): void {
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

  let last: AnyOperation | undefined;
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
  const send = (operation: AnyOperation) => {
    if (ended || !operationChanged(last, operation)) return;
    last = operation;
    response.write(`event: operation\ndata: ${JSON.stringify(operation)}\n\n`);
    if (isTerminal(operation.status)) end();
  };

  const stopWatching = watch(send);
  const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), HEARTBEAT_INTERVAL_MS);
  openStreams.add(end);
  response.once('close', end);
  send(first);
}
