import { z } from 'zod';
import { TenantId, Timestamp } from '../tenant/fields.js';

/**
 * What a webhook endpoint subscribes to: the public names of the events delivered to
 * receivers (the `type` of the Standard Webhooks payload), decoupled from the internal
 * `ce-type` versions (see `webhookTypeOf`).
 */
export const WebhookEventTypes = [
  'quota.warning',
  'quota.exceeded',
  'tenant.suspended',
  'tenant.activated',
  'tenant.provisioning-failed',
  'backup.failed',
  'billing.window-closed',
  'alert.firing',
  'alert.resolved',
  'webhook.endpoint-disabled',
] as const;
export const WebhookEventType = z.enum(WebhookEventTypes).describe('A deliverable event type');
export type WebhookEventType = z.infer<typeof WebhookEventType>;

/** Fleet-level types: only operators may subscribe to them (they are about no single tenant). */
export const operatorOnlyWebhookTypes: ReadonlySet<WebhookEventType> = new Set([
  'alert.firing',
  'alert.resolved',
  'webhook.endpoint-disabled',
]);

export const EndpointId = z.uuid().describe('Webhook endpoint id (uuid)');
/** `msg_<...>`: the `webhook-id` of a delivery; the same logical delivery always carries the same one. */
export const DeliveryId = z
  .string()
  .regex(/^msg_[A-Za-z0-9]{10,64}$/)
  .describe('Delivery id, sent as the webhook-id header');
export const WebhookUrl = z.string().min(1).max(2048).describe('Receiver URL (https; checked against SSRF)');
export const EndpointOwner = z
  .enum(['operator', 'tenant'])
  .describe('Who registered it: an operator (X-Admin-Key) or the tenant itself');

export const EndpointStatus = z.enum(['enabled', 'disabled']);
export const EndpointView = z.object({
  id: EndpointId,
  url: z.string(),
  description: z.string().nullable(),
  eventTypes: z.array(WebhookEventType),
  tenantId: TenantId.nullable().describe('Only this tenant\u2019s events; null: every tenant and the fleet'),
  owner: EndpointOwner,
  status: EndpointStatus,
  disabledReason: z.string().nullable(),
  consecutiveFailures: z.number().int().nonnegative(),
  failingSince: Timestamp.nullable(),
  createdAt: Timestamp,
  secretRotatedAt: Timestamp.nullable(),
  previousSecretExpiresAt: Timestamp.nullable().describe('Until then deliveries carry two signatures'),
});
export type EndpointView = z.infer<typeof EndpointView>;

export const DeliveryStatus = z.enum(['pending', 'succeeded', 'failed']);
export const DeliveryView = z.object({
  id: DeliveryId,
  endpointId: EndpointId,
  eventId: z.string().describe('ce-id of the event delivered'),
  eventType: WebhookEventType,
  tenantId: TenantId.nullable(),
  status: DeliveryStatus.describe('pending: waiting for its next attempt; failed: retries exhausted'),
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: Timestamp.nullable(),
  lastAttemptAt: Timestamp.nullable(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: Timestamp,
  deliveredAt: Timestamp.nullable(),
});
export type DeliveryView = z.infer<typeof DeliveryView>;
