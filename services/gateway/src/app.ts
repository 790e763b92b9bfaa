import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import { type HealthChecks, type Logger, opsRoutes } from '@ttm/service-kit';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Registry } from 'prom-client';
import { AdminKeyRequired, adminKeyHeader, carriesAdminKey, keyMatches } from './plugins/adminAuth.js';
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
  /**
   * Whom to believe `X-Forwarded-*` from (for `request.ip`, `request.protocol`): nobody (false), a
   * number of hops, addresses or CIDR ranges of the proxies, or anyone (true). Default false.
   */
  trustProxy?: boolean | number | string[];
  /** Origins allowed cross-origin (CORS); empty or absent: no CORS headers at all. */
  corsOrigins?: readonly string[];
  /** Longest time to receive a whole request, ms (0: none). Default 30 s. */
  requestTimeoutMs?: number;
  /** Open connections accepted (0: no limit). */
  maxConnections?: number;
  /**
   * When set, /metrics and /docs answer only requests carrying this key (X-Admin-Key or
   * `Authorization: Bearer <key>`, which is what Prometheus sends).
   */
  protectOpsEndpointsWith?: string;
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
    trustProxy: fastifyTrustProxy(options.trustProxy ?? false),
    bodyLimit: options.bodyLimitBytes ?? defaultBodyLimitBytes,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    frameworkErrors: frameworkErrorProblem,
    schemaController: { compilersFactory: { buildValidator: buildJsonSchema2020Validator } },
  });
  // The API speaks JSON only: a text/plain body gets 415 instead of failing validation as a string.
  app.removeContentTypeParser('text/plain');

  if (options.maxConnections !== undefined && options.maxConnections > 0) {
    app.server.maxConnections = options.maxConnections;
  }

  await app.register(requestId);
  if (options.tracing) await app.register(httpTracing);
  await app.register(problemDetails);
  // HSTS, nosniff, no framing. The content security policy names only frame-ancestors here: the
  // dashboard sends its own full policy, and /docs (Swagger UI) needs its scripts.
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: false,
    frameguard: { action: 'deny' },
    hsts: { maxAge: 31_536_000, includeSubDomains: true },
    crossOriginResourcePolicy: { policy: 'same-site' },
  });
  app.addHook('onSend', async (_request, reply) => {
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', "frame-ancestors 'none'");
  });
  if (options.corsOrigins && options.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: [...options.corsOrigins],
      methods: ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-api-key', 'x-request-id', 'traceparent'],
      exposedHeaders: [
        'location',
        'retry-after',
        'x-request-id',
        'ratelimit-limit',
        'ratelimit-remaining',
        'ratelimit-reset',
      ],
      maxAge: 600,
    });
  }
  if (options.protectOpsEndpointsWith !== undefined) {
    const key = options.protectOpsEndpointsWith;
    app.addHook('onRequest', async (request) => {
      const path = request.url.split('?', 1)[0]!;
      if (path !== '/metrics' && path !== docsPath && !path.startsWith(`${docsPath}/`)) return;
      const bearer = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1];
      if (bearer !== undefined && !request.headers[adminKeyHeader] && keyMatches(bearer, key)) return;
      if (carriesAdminKey(request, key)) return;
      throw new AdminKeyRequired('OPS_ENDPOINTS_ACCESS=admin-key: send the operator key');
    });
  }
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

/** A number of hops as the function fastify's types take (proxy-addr does the same with a number). */
function fastifyTrustProxy(
  trust: boolean | number | string[],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof trust !== 'number') return trust;
  return (_address, hop) => hop < trust;
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
