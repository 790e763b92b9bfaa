import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { createLogger, createMetricsRegistry, HealthChecks } from '@ttm/service-kit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGatewayApp } from '../src/app.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const callerSpanId = '00f067aa0ba902b7';

let app: FastifyInstance;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  app = await buildGatewayApp({
    logger: createLogger('gateway', 'silent'),
    health: new HealthChecks(),
    metrics: createMetricsRegistry('gateway'),
    version: 'test',
    tracing: true,
  });
  // What a route sees, and what a command it publishes would carry on.
  app.post('/probe', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    const carried: Record<string, string> = {};
    propagation.inject(context.active(), carried);
    return { trace_id: trace.getActiveSpan()?.spanContext().traceId ?? null, carried };
  });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  propagation.disable();
  context.disable();
});

describe('HTTP tracing', () => {
  it("runs the route inside the caller's trace and hands it on to what the route publishes", async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/probe',
      headers: { traceparent: `00-${traceId}-${callerSpanId}-01` },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json<{ trace_id: string; carried: { traceparent?: string } }>();
    expect(body.trace_id).toBe(traceId);
    expect(body.carried.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  });

  it('serves a request without a traceparent, and one with a malformed one', async () => {
    for (const headers of [{}, { traceparent: 'garbage' }]) {
      const response = await app.inject({ method: 'POST', url: '/probe', headers });
      expect(response.statusCode).toBe(200);
    }
  });
});
