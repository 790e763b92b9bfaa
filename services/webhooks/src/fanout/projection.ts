import {
  Consumers,
  consumerDefinition,
  operatorOnlyWebhookTypes,
  webhookTenantOf,
  webhookTypeOf,
} from '@ttm/contracts';
import type { PoolClient, ProjectionDefinition, ReceivedEvent } from '@ttm/service-kit';
import { WEBHOOKS_SCHEMA } from '../endpoints/store.js';

const deliverable = new Set(Object.keys(webhookTypeOf));

/**
 * Turn each deliverable event into one pending delivery per enabled endpoint subscribed to it,
 * in the projection's transaction (with its checkpoint). The delivery id, sent as webhook-id,
 * is derived from the endpoint and the event id, so a replay inserts nothing new.
 * The body is the Standard Webhooks payload `{type, timestamp, data}`, fixed once here so
 * every attempt signs the same bytes. Deliveries are only inserted, so a batch's events go in
 * one statement whatever their order.
 */
async function fanOutMany(client: PoolClient, events: readonly ReceivedEvent[]): Promise<void> {
  const rows = [];
  for (const event of events) {
    const type = webhookTypeOf[event.meta.type];
    if (!type) continue;
    rows.push({
      event_id: event.meta.id,
      event_type: type,
      tenant_id: webhookTenantOf(event.data) ?? null,
      payload: JSON.stringify({ type, timestamp: event.meta.time, data: event.data }),
      operator_only: operatorOnlyWebhookTypes.has(type),
    });
  }
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO webhooks.deliveries (id, endpoint_id, event_id, event_type, tenant_id, payload, next_attempt_at)
     SELECT 'msg_' || substr(encode(sha256(convert_to(e.id::text || '/' || r.event_id, 'UTF8')), 'hex'), 1, 32),
            e.id, r.event_id, r.event_type, r.tenant_id, r.payload, now()
       FROM jsonb_to_recordset($1::jsonb) AS r(event_id text, event_type text, tenant_id uuid, payload text,
            operator_only boolean)
       JOIN webhooks.endpoints e
         ON e.removed_at IS NULL AND e.status = 'enabled' AND r.event_type = ANY (e.event_types)
        AND (e.tenant_id IS NULL OR e.tenant_id = r.tenant_id)
        AND (NOT r.operator_only OR e.owner = 'operator')
     ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
    [JSON.stringify(rows)],
  );
}

function fanOut(name: string, durable: string): ProjectionDefinition {
  return {
    name,
    schema: WEBHOOKS_SCHEMA,
    consumer: consumerDefinition(durable),
    handles: deliverable,
    // One INSERT per batch, results never read: it goes in one round trip with the checkpoint.
    writesOnly: true,
    apply: (client, event) => fanOutMany(client, [event]),
    applyMany: fanOutMany,
  };
}

/** EVENTS: quota, tenant, backup, alert and endpoint notices. */
export const eventsFanOut = fanOut('webhook-fanout-events', Consumers.webhooksEvents);
/** BILLING: closed usage windows. */
export const billingFanOut = fanOut('webhook-fanout-billing', Consumers.webhooksBilling);
