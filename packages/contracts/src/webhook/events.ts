import { z } from 'zod';
import { defineEvent } from '../message.js';
import { TenantId, Timestamp } from '../tenant/fields.js';
import { EndpointId } from './fields.js';

const labels = z.record(z.string(), z.string());

const alert = {
  fingerprint: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .describe("Alertmanager's fingerprint of the alert's labels"),
  alertname: z.string().min(1).max(200),
  tenantId: TenantId.nullable().describe('The tenant_id label, when the alert is about one tenant'),
  labels,
  annotations: labels,
  startsAt: Timestamp,
  generatorURL: z.string().max(2048).optional(),
};

export const AlertFiring = defineEvent({
  type: 'ttm.alert.firing.v1',
  aggregate: 'alert',
  description: 'Alertmanager reported an alert firing (one event per fingerprint and start)',
  schema: z.object(alert),
});

export const AlertResolved = defineEvent({
  type: 'ttm.alert.resolved.v1',
  aggregate: 'alert',
  description: 'Alertmanager reported a firing alert resolved',
  schema: z.object({ ...alert, endsAt: Timestamp }),
});

export const WebhookEndpointDisabled = defineEvent({
  type: 'ttm.webhook.endpoint-disabled.v1',
  aggregate: 'webhook',
  description: 'A webhook endpoint failed for too long and was disabled; no more deliveries until re-enabled',
  schema: z.object({
    endpointId: EndpointId,
    tenantId: TenantId.nullable(),
    url: z.string(),
    consecutiveFailures: z.number().int().positive(),
    failingSince: Timestamp,
    disabledAt: Timestamp,
  }),
});

export const alertEvents = [AlertFiring, AlertResolved] as const;
export const webhookEvents = [WebhookEndpointDisabled] as const;
