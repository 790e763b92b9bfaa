import { z } from 'zod';
import { TenantId, Timestamp } from '../tenant/fields.js';
import { CoreSubjects } from '../topology.js';
import {
  DeliveryId,
  DeliveryView,
  EndpointId,
  EndpointOwner,
  EndpointView,
  WebhookEventType,
  WebhookUrl,
} from './fields.js';

/**
 * Request-reply subject the webhooks service answers (core NATS, queue group `webhooks`): how the
 * gateway manages endpoints and reads delivery logs without reading the webhooks database.
 * One JSON request (`op` says what), one JSON reply.
 */
export const WebhookQuerySubjects = { endpoints: CoreSubjects.webhookEndpoints } as const;

/** Whose endpoints a request may see: an operator sees all, a tenant only its own. */
export const WebhookScope = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('operator') }),
  z.object({ kind: z.literal('tenant'), tenantId: TenantId }),
]);
export type WebhookScope = z.infer<typeof WebhookScope>;

export const NewEndpoint = z.object({
  url: WebhookUrl,
  eventTypes: z.array(WebhookEventType).min(1).max(20),
  description: z.string().trim().min(1).max(200).optional(),
  tenantId: TenantId.nullable()
    .optional()
    .describe('Operators: only this tenant (omit or null: all tenants and the fleet)'),
});
export type NewEndpoint = z.infer<typeof NewEndpoint>;

const target = { scope: WebhookScope, endpointId: EndpointId };

export const WebhookRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('create'), scope: WebhookScope, endpoint: NewEndpoint }),
  z.object({ op: z.literal('list'), scope: WebhookScope }),
  z.object({ op: z.literal('get'), ...target }),
  z.object({ op: z.literal('remove'), ...target }),
  z.object({ op: z.literal('enable'), ...target }),
  z.object({
    op: z.literal('rotate-secret'),
    ...target,
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .optional(),
  }),
  z.object({
    op: z.literal('deliveries'),
    ...target,
    limit: z.number().int().min(1).max(500).optional(),
    before: Timestamp.optional().describe('Only deliveries created before this moment (paging)'),
  }),
  z.object({ op: z.literal('redeliver'), ...target, deliveryId: DeliveryId }),
]);
export type WebhookRequest = z.infer<typeof WebhookRequest>;

export const WebhookErrorCode = z.enum(['bad-request', 'url-rejected', 'type-not-allowed', 'not-found', 'unavailable']);
export type WebhookErrorCode = z.infer<typeof WebhookErrorCode>;

export const WebhookFailure = z.object({
  ok: z.literal(false),
  error: z.object({ code: WebhookErrorCode, message: z.string() }),
});

export const EndpointWithSecret = z.object({
  endpoint: EndpointView,
  secret: z
    .string()
    .regex(/^whsec_/)
    .describe('The signing secret: shown once, store it now'),
});
export type EndpointWithSecret = z.infer<typeof EndpointWithSecret>;

export const WebhookReply = z.union([
  WebhookFailure,
  z.object({ ok: z.literal(true), op: z.literal('created'), result: EndpointWithSecret }),
  z.object({ ok: z.literal(true), op: z.literal('rotated'), result: EndpointWithSecret }),
  z.object({ ok: z.literal(true), op: z.literal('endpoints'), result: z.array(EndpointView) }),
  z.object({ ok: z.literal(true), op: z.literal('endpoint'), result: EndpointView }),
  z.object({ ok: z.literal(true), op: z.literal('removed'), result: z.object({ endpointId: EndpointId }) }),
  z.object({ ok: z.literal(true), op: z.literal('deliveries'), result: z.array(DeliveryView) }),
  z.object({ ok: z.literal(true), op: z.literal('delivery'), result: DeliveryView }),
]);
export type WebhookReply = z.infer<typeof WebhookReply>;

export { EndpointOwner };
