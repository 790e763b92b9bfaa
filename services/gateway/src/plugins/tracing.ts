import { context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

const tracer = trace.getTracer('@ttm/gateway');
const spans = new WeakMap<FastifyRequest, Span>();

/**
 * The HTTP leg of a trace: a server span per request, child of the caller's W3C `traceparent`
 * when it sends one, and the active context for the rest of the request, so the commands a
 * route publishes carry it on (NATS headers) and its log lines carry `trace_id`.
 *
 * Hand-written rather than `@opentelemetry/instrumentation-http`: that patches `node:http` at
 * load time, which an ESM process started without a loader hook does not allow.
 */
export const httpTracing = fp(
  async (app) => {
    app.addHook('onRequest', (request, _reply, done) => {
      const parent = propagation.extract(ROOT_CONTEXT, request.headers);
      const route = request.routeOptions.url;
      const span = tracer.startSpan(
        `${request.method} ${route ?? 'unmatched'}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': request.method,
            ...(route ? { 'http.route': route } : {}),
            'url.path': request.url.split('?', 1)[0],
            'client.address': request.ip,
            'ttm.request_id': request.id,
          },
        },
        parent,
      );
      spans.set(request, span);
      // Everything after this hook (the other hooks, the handler) runs inside the span.
      context.with(trace.setSpan(parent, span), done);
    });
    app.addHook('onResponse', (request, reply, done) => {
      const span = spans.get(request);
      if (span) {
        span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        spans.delete(request);
      }
      done();
    });
    app.addHook('onRequestAbort', (request, done) => {
      const span = spans.get(request);
      if (span) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'client aborted' });
        span.end();
        spans.delete(request);
      }
      done();
    });
  },
  { name: 'http-tracing' },
);
