import { sharedCounter, sharedHistogram } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';

export interface HttpMetricsOptions {
  registry: Registry;
}

type Label = 'method' | 'route' | 'status';
const labelNames: Label[] = ['method', 'route', 'status'];

/**
 * `api_requests_total` and `api_response_time_seconds` by method, route pattern and status.
 * The route label is the pattern (`/api/tenants/:id`), never the raw path, and every request
 * that matched no route counts as `unmatched`, so a scan of random URLs cannot grow the series.
 */
export const httpMetrics = fp<HttpMetricsOptions>(
  async (app, { registry }) => {
    const requests = sharedCounter(registry, {
      name: 'api_requests_total',
      help: 'HTTP requests answered by the gateway',
      labelNames,
    });
    const responseTime = sharedHistogram(registry, {
      name: 'api_response_time_seconds',
      help: 'Time from receiving an HTTP request to sending its response, in seconds',
      labelNames,
    });

    app.addHook('onResponse', async (request, reply) => {
      const labels = { method: request.method, route: routeLabel(request), status: String(reply.statusCode) };
      requests.inc(labels);
      responseTime.observe(labels, reply.elapsedTime / 1_000);
    });
  },
  { name: 'ttm-http-metrics', fastify: '5.x' },
);

function routeLabel(request: FastifyRequest): string {
  if (request.is404) return 'unmatched';
  return request.routeOptions.url ?? 'unmatched';
}
