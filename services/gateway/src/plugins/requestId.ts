import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import fp from 'fastify-plugin';

export const requestIdHeader = 'x-request-id';

/** What we accept from a client or proxy: short, and safe to put in a log line or a header. */
const saneRequestId = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * For fastify's `genReqId`: keep the caller's `X-Request-Id` when it is sane, so one id follows
 * a request through proxies and logs; otherwise mint a uuid. Fastify's own `requestIdHeader`
 * would take any value, so it stays off and this does the reading.
 */
export function genRequestId(raw: IncomingMessage): string {
  const incoming = raw.headers[requestIdHeader];
  const candidate = Array.isArray(incoming) ? incoming[0] : incoming;
  return candidate !== undefined && saneRequestId.test(candidate) ? candidate : randomUUID();
}

/** Echoes the request id on every response. Fastify already puts it on `request.log`'s child logger. */
export const requestId = fp(
  async (app) => {
    app.addHook('onRequest', async (request, reply) => {
      reply.header(requestIdHeader, request.id);
    });
  },
  { name: 'ttm-request-id', fastify: '5.x' },
);
