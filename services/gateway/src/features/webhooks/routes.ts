import {
  DeliveryId,
  DeliveryView,
  EndpointId,
  EndpointView,
  EndpointWithSecret,
  NewEndpoint,
  type WebhookScope,
} from '@ttm/contracts';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { adminActorOf } from '../../plugins/adminAuth.js';
import { securitySchemes, tenantRouteSecurity } from '../../plugins/openapi.js';
import { problemJsonSchema } from '../../problems.js';
import { type JsonSchema, zodSchema } from '../../schema.js';
import { auditTenantAction } from '../tenantApi/shared.js';
import { askWebhooks } from './client.js';

const problem = (description: string): JsonSchema => ({ ...problemJsonSchema, description });

const EndpointParams = z.object({ id: EndpointId });
const DeliveryParams = z.object({ id: EndpointId, deliveryId: DeliveryId });
const RotateBody = z.object({
  overlapSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .optional()
    .describe('How long the previous secret keeps signing too (default WEBHOOK_SECRET_OVERLAP)'),
});
const DeliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime({ offset: true }).optional().describe('Only deliveries created before this moment'),
});
const EndpointList = z.object({ endpoints: z.array(EndpointView) });
const DeliveryList = z.object({ deliveries: z.array(DeliveryView) });

type Params = z.infer<typeof EndpointParams>;

interface Audience {
  prefix: string;
  tags: string[];
  security: Record<string, string[]>[];
  unauthorized: JsonSchema;
  scopeOf(request: FastifyRequest): WebhookScope;
  /** Record a change in the audit log, as the operator or the tenant's user or API key. */
  audit(request: FastifyRequest, action: string, endpointId: string, tenantId?: string | null): Promise<void>;
  /** Only operators may name a tenant in the body. */
  body: z.ZodType;
}

/**
 * The endpoint routes, for one audience: operators under `/api/admin/webhooks` (any tenant or
 * the fleet) and tenants under `/api/tenant/webhooks` (their own events only). The webhooks
 * service keeps the endpoints and enforces the scope as well.
 */
function endpointRoutes(audience: Audience): FastifyPluginAsync<GatewayDeps> {
  const audit = (request: FastifyRequest, action: string, endpointId: string, tenantId?: string | null) =>
    audience.audit(request, action, endpointId, tenantId);
  return async (app, deps) => {
    const { prefix, tags, security, unauthorized } = audience;
    const notFound = problem('No such endpoint (or delivery) is visible to the caller');
    const unavailable = problem('The webhooks service did not answer: retry');
    const common = { 401: unauthorized, 503: unavailable };

    app.post<{ Body: z.infer<typeof NewEndpoint> }>(
      prefix,
      {
        schema: {
          summary: 'Register a webhook endpoint; the signing secret is in this answer only',
          description:
            'Deliveries follow the Standard Webhooks spec: `webhook-id`, `webhook-timestamp`, `webhook-signature` ' +
            '(`v1,<base64 HMAC-SHA256>` with the `whsec_` secret). The URL must be https in production and must ' +
            'not resolve to a loopback, private, link-local or multicast address.',
          tags,
          security,
          body: zodSchema(audience.body),
          response: {
            201: zodSchema(EndpointWithSecret, { io: 'output' }),
            400: problem('The URL is malformed, not https, or resolves to a private address'),
            403: problem('The caller may not subscribe to these events'),
            ...common,
          },
        },
      },
      async (request, reply) => {
        const created = await askWebhooks(
          deps.nc,
          { op: 'create', scope: audience.scopeOf(request), endpoint: request.body },
          'created',
        );
        await audit(request, 'webhook-endpoint-created', created.endpoint.id, created.endpoint.tenantId);
        reply.code(201).header('location', `${prefix}/${created.endpoint.id}`);
        return created;
      },
    );

    app.get(
      prefix,
      {
        schema: {
          summary: 'Webhook endpoints',
          tags,
          security,
          response: { 200: zodSchema(EndpointList, { io: 'output' }), ...common },
        },
      },
      async (request) => ({
        endpoints: await askWebhooks(deps.nc, { op: 'list', scope: audience.scopeOf(request) }, 'endpoints'),
      }),
    );

    const byId = { tags, security, params: zodSchema(EndpointParams) };
    app.get<{ Params: Params }>(
      `${prefix}/:id`,
      {
        schema: {
          summary: 'One webhook endpoint',
          ...byId,
          response: { 200: zodSchema(EndpointView, { io: 'output' }), 404: notFound, ...common },
        },
      },
      async (request) =>
        askWebhooks(
          deps.nc,
          { op: 'get', scope: audience.scopeOf(request), endpointId: request.params.id },
          'endpoint',
        ),
    );

    app.delete<{ Params: Params }>(
      `${prefix}/:id`,
      {
        schema: {
          summary: 'Remove a webhook endpoint (no more deliveries)',
          ...byId,
          response: { 204: { type: 'null' }, 404: notFound, ...common },
        },
      },
      async (request, reply) => {
        await askWebhooks(
          deps.nc,
          { op: 'remove', scope: audience.scopeOf(request), endpointId: request.params.id },
          'removed',
        );
        await audit(request, 'webhook-endpoint-removed', request.params.id);
        return reply.code(204).send();
      },
    );

    app.post<{ Params: Params }>(
      `${prefix}/:id/enable`,
      {
        schema: {
          summary: 'Enable an endpoint again after it was disabled for sustained failure',
          ...byId,
          response: { 200: zodSchema(EndpointView, { io: 'output' }), 404: notFound, ...common },
        },
      },
      async (request) => {
        const enabled = await askWebhooks(
          deps.nc,
          { op: 'enable', scope: audience.scopeOf(request), endpointId: request.params.id },
          'endpoint',
        );
        await audit(request, 'webhook-endpoint-enabled', enabled.id, enabled.tenantId);
        return enabled;
      },
    );

    app.post<{ Params: Params; Body: z.infer<typeof RotateBody> | undefined }>(
      `${prefix}/:id/rotate-secret`,
      {
        schema: {
          summary: 'A new signing secret (shown once); the previous one also signs during the overlap',
          ...byId,
          body: zodSchema(RotateBody),
          response: { 200: zodSchema(EndpointWithSecret, { io: 'output' }), 404: notFound, ...common },
        },
      },
      async (request) => {
        const rotated = await askWebhooks(
          deps.nc,
          {
            op: 'rotate-secret',
            scope: audience.scopeOf(request),
            endpointId: request.params.id,
            ...(request.body?.overlapSeconds === undefined ? {} : { overlapSeconds: request.body.overlapSeconds }),
          },
          'rotated',
        );
        await audit(request, 'webhook-secret-rotated', rotated.endpoint.id, rotated.endpoint.tenantId);
        return rotated;
      },
    );

    app.get<{ Params: Params; Querystring: z.infer<typeof DeliveriesQuery> }>(
      `${prefix}/:id/deliveries`,
      {
        schema: {
          summary: "An endpoint's delivery log, newest first",
          ...byId,
          querystring: zodSchema(DeliveriesQuery),
          response: { 200: zodSchema(DeliveryList, { io: 'output' }), 404: notFound, ...common },
        },
      },
      async (request) => ({
        deliveries: await askWebhooks(
          deps.nc,
          {
            op: 'deliveries',
            scope: audience.scopeOf(request),
            endpointId: request.params.id,
            limit: request.query.limit,
            ...(request.query.before ? { before: request.query.before } : {}),
          },
          'deliveries',
        ),
      }),
    );

    app.post<{ Params: z.infer<typeof DeliveryParams> }>(
      `${prefix}/:id/deliveries/:deliveryId/redeliver`,
      {
        schema: {
          summary: 'Send a delivery again now, with the same webhook-id',
          tags,
          security,
          params: zodSchema(DeliveryParams),
          response: { 202: zodSchema(DeliveryView, { io: 'output' }), 404: notFound, ...common },
        },
      },
      async (request, reply) => {
        const delivery = await askWebhooks(
          deps.nc,
          {
            op: 'redeliver',
            scope: audience.scopeOf(request),
            endpointId: request.params.id,
            deliveryId: request.params.deliveryId,
          },
          'delivery',
        );
        await audit(request, 'webhook-redelivered', delivery.endpointId, delivery.tenantId);
        return reply.code(202).send(delivery);
      },
    );
  };
}

/**
 * `/api/admin/webhooks…`: register it inside `adminRoutes`, whose X-Admin-Key guard (and its
 * budget of audited failures) it inherits.
 */
export const adminWebhookRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  await app.register(
    endpointRoutes({
      prefix: '/api/admin/webhooks',
      tags: ['admin', 'webhooks'],
      security: [{ [securitySchemes.adminKey]: [] }],
      unauthorized: problem('X-Admin-Key is missing or wrong'),
      scopeOf: () => ({ kind: 'operator' }),
      audit: (request, action, endpointId, tenantId) =>
        deps.audit.record(
          {
            actor: adminActorOf(request),
            action,
            scope: tenantId ?? 'system',
            target: { kind: 'webhook-endpoint', id: endpointId },
            outcome: 'success',
          },
          request,
        ),
      body: NewEndpoint,
    }),
    deps,
  );
};

/** `/api/tenant/webhooks…`: register it in the tenant scope (after authentication). */
export const tenantWebhookRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  // Managing an organization's webhooks is an Admin's (or a key with the scope's) business.
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, permission: 'webhooks:manage' };
  });
  await app.register(
    endpointRoutes({
      prefix: '/api/tenant/webhooks',
      tags: ['tenant', 'webhooks'],
      security: tenantRouteSecurity,
      unauthorized: problem('The bearer token or API key is missing, invalid or expired'),
      scopeOf: (request) => ({ kind: 'tenant', tenantId: request.principal!.tenantId }),
      audit: (request, action, endpointId) =>
        auditTenantAction(deps, request, action, { kind: 'webhook-endpoint', id: endpointId }),
      // A tenantId other than the caller's is refused (403) by the webhooks service.
      body: NewEndpoint,
    }),
    deps,
  );
};
