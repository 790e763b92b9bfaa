import { z } from 'zod';
import { IdleTenantsReply, IdleTenantsRequest } from './backup/queries.js';
import { TenantId } from './tenant/fields.js';
import { CoreSubjects, Subjects } from './topology.js';
import { UpgradeReply, UpgradeRequest } from './upgrade/queries.js';
import { UsageWindowsReply, UsageWindowsRequest } from './usage/queries.js';
import { WebhookReply, WebhookRequest } from './webhook/queries.js';

/**
 * Messages without CloudEvents headers, plain JSON: NATS server advisories (published by
 * nats-server itself on `$JS.EVENT.ADVISORY.…` subjects), and the bodies of our core NATS
 * request-reply queries and notices (`CoreSubjects`).
 */
export interface ExternalMessageDefinition<S extends z.ZodType = z.ZodType> {
  kind: 'external';
  /** Names the schema (for an advisory, the `type` field of its body). */
  type: string;
  description: string;
  /** Who publishes it. */
  publisher: string;
  /** The subject it arrives on, with `{param}` placeholders (a subject catalog pattern). */
  subjectPattern: string;
  schema: S;
}

function defineExternal<S extends z.ZodType>(
  def: Omit<ExternalMessageDefinition<S>, 'kind'>,
): ExternalMessageDefinition<S> {
  return { kind: 'external', ...def };
}

export const MAX_DELIVERIES_ADVISORY_TYPE = 'io.nats.jetstream.advisory.v1.max_deliver';

/**
 * Published by nats-server when a message exhausts its consumer's `max_deliver`. The message stays
 * in its stream and is not delivered again, so a listener must copy it to the dead-letter place.
 */
export const MaxDeliveriesAdvisory = defineExternal({
  type: MAX_DELIVERIES_ADVISORY_TYPE,
  description: 'JetStream advisory: a message exhausted max_deliver on a consumer; stream_seq locates it in the stream',
  publisher: 'nats-server',
  subjectPattern: Subjects.maxDeliveriesAdvisory('{stream}', '{consumer}'),
  schema: z.object({
    type: z.literal(MAX_DELIVERIES_ADVISORY_TYPE),
    id: z.string().min(1).describe('Advisory id (a NATS nuid)'),
    timestamp: z.iso.datetime({ offset: true }).describe('When the server gave up (RFC 3339, nanoseconds)'),
    stream: z.string().min(1).describe('Stream holding the message'),
    consumer: z.string().min(1).describe('Durable consumer that gave up'),
    stream_seq: z.number().int().positive().describe('Stream sequence of the message'),
    deliveries: z.number().int().positive().describe('How many times it was delivered'),
    domain: z.string().optional().describe('JetStream domain, when one is configured'),
  }),
});
export type MaxDeliveriesAdvisoryData = z.infer<typeof MaxDeliveriesAdvisory.schema>;

export const UsageWindowsQueried = defineExternal({
  type: 'ttm.query.usage-windows.request.v1',
  description: 'A request for usage windows of one tenant (answered by metering on the reply subject)',
  publisher: 'gateway',
  subjectPattern: CoreSubjects.usageWindowsQuery,
  schema: UsageWindowsRequest,
});

export const UsageWindowsAnswered = defineExternal({
  type: 'ttm.query.usage-windows.reply.v1',
  description: "Metering's answer to a usage windows request, sent to the request's reply subject",
  publisher: 'metering',
  subjectPattern: CoreSubjects.usageWindowsQuery,
  schema: UsageWindowsReply,
});

export const ApiKeyRevokedNotice = defineExternal({
  type: 'ttm.gateway.api-key-revoked.v1',
  description: 'A tenant API key was revoked: every gateway instance drops it from its cache at once',
  publisher: 'gateway',
  subjectPattern: CoreSubjects.apiKeyRevoked,
  schema: z.object({
    keyId: z.uuid().describe('The revoked key id (its 32 hex digits follow `ttm_` in the key)'),
    tenantId: TenantId.optional(),
  }),
});

export const WebhookEndpointsRequested = defineExternal({
  type: 'ttm.query.webhook-endpoints.request.v1',
  description: 'Manage webhook endpoints or read a delivery log (answered by webhooks on the reply subject)',
  publisher: 'gateway',
  subjectPattern: CoreSubjects.webhookEndpoints,
  schema: WebhookRequest,
});

export const WebhookEndpointsAnswered = defineExternal({
  type: 'ttm.query.webhook-endpoints.reply.v1',
  description: "The webhooks service's answer, sent to the request's reply subject",
  publisher: 'webhooks',
  subjectPattern: CoreSubjects.webhookEndpoints,
  schema: WebhookReply,
});

export const UpgradeRequested = defineExternal({
  type: 'ttm.query.upgrades.request.v1',
  description:
    'Start, read, list, pause, resume, cancel or roll back fleet schema upgrades (answered by the provisioner)',
  publisher: 'gateway',
  subjectPattern: CoreSubjects.upgrades,
  schema: UpgradeRequest,
});

export const UpgradeAnswered = defineExternal({
  type: 'ttm.query.upgrades.reply.v1',
  description: "The provisioner's answer (the upgrade as it stands, or why it refused), sent to the reply subject",
  publisher: 'provisioner',
  subjectPattern: CoreSubjects.upgrades,
  schema: UpgradeReply,
});

export const IdleTenantsRequested = defineExternal({
  type: 'ttm.query.idle-tenants.request.v1',
  description: "Read tenants' last activity and who is idle past their plan's days (answered by the backup service)",
  publisher: 'gateway',
  subjectPattern: CoreSubjects.idleTenantsQuery,
  schema: IdleTenantsRequest,
});

export const IdleTenantsAnswered = defineExternal({
  type: 'ttm.query.idle-tenants.reply.v1',
  description: "The backup service's answer, sent to the request's reply subject",
  publisher: 'backup',
  subjectPattern: CoreSubjects.idleTenantsQuery,
  schema: IdleTenantsReply,
});

export const externalMessageDefinitions: readonly ExternalMessageDefinition[] = [
  MaxDeliveriesAdvisory,
  UsageWindowsQueried,
  UsageWindowsAnswered,
  ApiKeyRevokedNotice,
  WebhookEndpointsRequested,
  WebhookEndpointsAnswered,
  UpgradeRequested,
  UpgradeAnswered,
  IdleTenantsRequested,
  IdleTenantsAnswered,
];
