import {
  Consumers,
  consumerDefinition,
  operatorOnlyWebhookTypes,
  webhookTenantOf,
  webhookTypeOf,
} from '@ttm/contracts';
import type { ProjectionDefinition } from '@ttm/service-kit';
import { WEBHOOKS_SCHEMA } from '../endpoints/store.js';

const deliverable = new Set(Object.keys(webhookTypeOf));

/**
 * Turn one deliverable event into one pending delivery per enabled endpoint subscribed to it,
 * in the projection's transaction (with its checkpoint). The delivery id, sent as webhook-id,
 * is derived from the endpoint and the event id, so a replay inserts nothing new.
 * The body is the Standard Webhooks payload `{type, timestamp, data}`, fixed once here so
 * every attempt signs the same bytes.
 */
function fanOut(name: string, durable: string): ProjectionDefinition {
  return {
    name,
    schema: WEBHOOKS_SCHEMA,
    consumer: consumerDefinition(durable),
    handles: deliverable,
    async apply(client, event) {
      const type = webhookTypeOf[event.meta.type];
      if (!type) return;
      const tenantId = webhookTenantOf(event.data);
      const payload = JSON.stringify({ type, timestamp: event.meta.time, data: event.data });
      await client.query(
        `INSERT INTO webhooks.deliveries (id, endpoint_id, event_id, event_type, tenant_id, payload, next_attempt_at)
         SELECT 'msg_' || substr(encode(sha256(convert_to(e.id::text || '/' || $1, 'UTF8')), 'hex'), 1, 32),
                e.id, $1, $2, $3, $4, now()
           FROM webhooks.endpoints e
          WHERE e.removed_at IS NULL AND e.status = 'enabled' AND $2 = ANY (e.event_types)
            AND (e.tenant_id IS NULL OR e.tenant_id = $3)
            AND (NOT $5 OR e.owner = 'operator')
         ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
        [event.meta.id, type, tenantId, payload, operatorOnlyWebhookTypes.has(type)],
      );
    },
  };
}

/** EVENTS: quota, tenant, backup, alert and endpoint notices. */
export const eventsFanOut = fanOut('webhook-fanout-events', Consumers.webhooksEvents);
/** BILLING: closed usage windows. */
export const billingFanOut = fanOut('webhook-fanout-billing', Consumers.webhooksBilling);
