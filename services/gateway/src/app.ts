import { type HealthChecks, type Logger, opsRoutes } from '@ttm/service-kit';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Registry } from 'prom-client';
import { httpMetrics } from './plugins/metrics.js';
import { docsPath, openApi, openApiDocumentPath } from './plugins/openapi.js';
import { frameworkErrorProblem, problemDetails } from './plugins/problemDetails.js';
import { genRequestId, requestId } from './plugins/requestId.js';
import { httpTracing } from './plugins/tracing.js';
import { buildJsonSchema2020Validator } from './schema.js';

export interface GatewayAppOptions {
  logger: Logger;
  health: HealthChecks;
  metrics: Registry;
  version: string;
  /** Believe `X-Forwarded-*` from the proxy in front (for `request.ip`, `request.protocol`). Default false. */
  trustProxy?: boolean;
  /** Largest request body accepted; larger ones get 413. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** A server span per request, child of the caller's `traceparent` (`OTEL_ENABLED`). Default false. */
  tracing?: boolean;
}

const defaultBodyLimitBytes = 1024 * 1024;

/**
 * The gateway's HTTP application with its cross-cutting plugins and the ops routes, not yet
 * listening: the caller registers the feature routes, then calls `listen`.
 */
export async function buildGatewayApp(options: GatewayAppOptions): Promise<FastifyInstance> {
  // Typed as fastify's base logger so the instance is a plain `FastifyInstance` for route modules.
  const loggerInstance: FastifyBaseLogger = options.logger;
  const app = Fastify({
    loggerInstance,
    logController: new QuietRequestLog(),
    genReqId: genRequestId,
    requestIdHeader: false,
    trustProxy: options.trustProxy ?? false,
    bodyLimit: options.bodyLimitBytes ?? defaultBodyLimitBytes,
    frameworkErrors: frameworkErrorProblem,
    schemaController: { compilersFactory: { buildValidator: buildJsonSchema2020Validator } },
  });
  // The API speaks JSON only: a text/plain body gets 415 instead of failing validation as a string.
  app.removeContentTypeParser('text/plain');

  await app.register(requestId);
  if (options.tracing) await app.register(httpTracing);
  await app.register(problemDetails);
  await app.register(httpMetrics, { registry: options.metrics });
  await app.register(openApi, { version: options.version });
  await app.register(opsRoutes, { service: 'gateway', health: options.health, metrics: options.metrics });

  app.get(
    '/',
    {
      schema: {
        summary: 'What this server is and where its documentation lives',
        tags: ['meta'],
        response: {
          200: {
            type: 'object',
            required: ['name', 'version', 'docs', 'openapi'],
            properties: {
              name: { type: 'string' },
              version: { type: 'string' },
              docs: { type: 'string' },
              openapi: { type: 'string' },
            },
          },
        },
      },
    },
    async () => ({
      name: 'Twenty Tenant Manager API',
      version: options.version,
      docs: docsPath,
      openapi: openApiDocumentPath,
    }),
  );

  return app;
}

/**
 * Fastify logs two info lines per request by default; at a gateway's request rate that
 * drowns everything else. They move to debug (the metrics count every request anyway);
 * failures are still logged, at error, by the problem-details handler.
 */
class QuietRequestLog extends LogController {
  constructor() {
    // snake_case like the trace_id and span_id the service-kit logger adds.
    super({ requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, _request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
