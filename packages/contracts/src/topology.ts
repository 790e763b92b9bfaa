/**
 * Every stream, subject, consumer and bucket of the system, spelled once.
 * Operators see these names with the NATS CLI, so they stay readable.
 * Only settings that shape behaviour live here; sizes, ages and replicas come
 * from each deployment's configuration (see service-kit bootstrap).
 */

export const Streams = {
  COMMANDS: 'COMMANDS',
  EVENTS: 'EVENTS',
  USAGE: 'USAGE',
  BILLING: 'BILLING',
  AUDIT: 'AUDIT',
  DEADLETTER: 'DEADLETTER',
} as const;
export type StreamName = (typeof Streams)[keyof typeof Streams];

/** Subject builders. Nothing else in the code base spells a subject by hand. */
export const Subjects = {
  /** `cmd.<aggregate>.<verb>` */
  command: (aggregate: string, verb: string) => `cmd.${token(aggregate)}.${token(verb)}`,
  /** `evt.<aggregate>.<id>`: one subject per aggregate instance (optimistic concurrency). */
  event: (aggregate: string, id: string) => `evt.${token(aggregate)}.${token(id)}`,
  tenantEvents: (tenantId: string) => `evt.tenant.${token(tenantId)}`,
  backupEvents: (backupId: string) => `evt.backup.${token(backupId)}`,
  quotaEvents: (tenantId: string) => `evt.quota.${token(tenantId)}`,
  migrationEvents: (migrationId: string) => `evt.migration.${token(migrationId)}`,
  alertEvents: (fingerprint: string) => `evt.alert.${token(fingerprint)}`,
  webhookEvents: (endpointId: string) => `evt.webhook.${token(endpointId)}`,
  usage: (tenantId: string, meter: string) => `usage.${token(tenantId)}.${token(meter)}`,
  /** Many tenants' usage of one meter in one message (`ttm.usage.recorded.v2`), from one producer. */
  usageBatch: (producer: string, meter: string) => `usage.batch.${token(producer)}.${token(meter)}`,
  billing: (tenantId: string, meter: string) => `billing.${token(tenantId)}.${token(meter)}`,
  /** `audit.<tenantId or system>.<action>` */
  audit: (scope: string, action: string) => `audit.${token(scope)}.${token(action)}`,
  deadLetter: (stream: string, consumer: string) => `dlq.${token(stream)}.${token(consumer)}`,
  maxDeliveriesAdvisory: (stream: string, consumer: string) =>
    `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`,
} as const;

/** Fixed command subjects, so consumers can filter on them. */
export const CommandSubjects = {
  tenantRegister: 'cmd.tenant.register',
  tenantSuspend: 'cmd.tenant.suspend',
  tenantActivate: 'cmd.tenant.activate',
  tenantChangePlacement: 'cmd.tenant.change-placement',
  tenantRetryProvisioning: 'cmd.tenant.retry-provisioning',
  tenantUpgradeSchema: 'cmd.tenant.upgrade-schema',
  tenantArchive: 'cmd.tenant.archive',
  tenantUnarchive: 'cmd.tenant.unarchive',
  backupCreate: 'cmd.backup.create',
  backupDelete: 'cmd.backup.delete',
  backupVerify: 'cmd.backup.verify',
  backupRestore: 'cmd.backup.restore',
  backupArchive: 'cmd.backup.archive',
  quotaOverride: 'cmd.quota.override',
  migrationStart: 'cmd.migration.start',
} as const;

/** Wildcards used by stream definitions and consumer filters. */
export const SubjectFilters = {
  allCommands: 'cmd.>',
  tenantCommands: 'cmd.tenant.>',
  usageCommands: 'cmd.usage.>',
  quotaCommands: 'cmd.quota.>',
  backupCommands: 'cmd.backup.>',
  migrationCommands: 'cmd.migration.>',
  allEvents: 'evt.>',
  tenantEvents: 'evt.tenant.>',
  backupEvents: 'evt.backup.>',
  quotaEvents: 'evt.quota.>',
  migrationEvents: 'evt.migration.>',
  allUsage: 'usage.>',
  allBilling: 'billing.>',
  allAudit: 'audit.>',
  /** Closed api_calls windows of every tenant: when each tenant last called the API. */
  apiCallWindows: 'billing.*.api_calls',
  /** Sign-ins of every tenant (the gateway's `login` audit entries). */
  signIns: 'audit.*.login',
  allDeadLetters: 'dlq.>',
  maxDeliveriesAdvisories: '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>',
} as const;

/** A subject token may not contain the separators or wildcards of NATS subjects. */
export function token(value: string): string {
  if (value.length === 0 || /[\s.*>]/.test(value)) {
    throw new Error(`invalid subject token "${value}": must be non-empty without spaces, '.', '*' or '>'`);
  }
  return value;
}

export type Retention = 'limits' | 'workqueue';

export interface StreamDefinition {
  name: StreamName;
  description: string;
  subjects: string[];
  retention: Retention;
  denyDelete: boolean;
  denyPurge: boolean;
  /** Which configuration knob bounds the age of messages, if any (see service-kit config). */
  maxAgeSetting?: 'usageMaxAge' | 'deadLetterMaxAge';
  /**
   * What a full stream does when a size bound is configured: a source of truth refuses
   * new writes (`new`) rather than silently dropping its history (`old`).
   */
  discard: 'old' | 'new';
  /** How long JetStream remembers a Nats-Msg-Id to drop duplicates. */
  duplicateWindowSeconds: number;
}

export const streamDefinitions: readonly StreamDefinition[] = [
  {
    name: Streams.COMMANDS,
    description: 'Commands to services (work queue: each service owns a non-overlapping filter)',
    subjects: [SubjectFilters.allCommands],
    retention: 'workqueue',
    denyDelete: false,
    denyPurge: false,
    discard: 'new',
    duplicateWindowSeconds: 120,
  },
  {
    name: Streams.EVENTS,
    description: 'Domain events, the source of truth: one subject per aggregate instance',
    subjects: [SubjectFilters.allEvents],
    retention: 'limits',
    denyDelete: true,
    denyPurge: true,
    discard: 'new',
    duplicateWindowSeconds: 120,
  },
  {
    name: Streams.USAGE,
    description: 'Raw usage samples and counts per tenant and meter',
    subjects: [SubjectFilters.allUsage],
    retention: 'limits',
    denyDelete: false,
    denyPurge: false,
    maxAgeSetting: 'usageMaxAge',
    discard: 'old',
    duplicateWindowSeconds: 600,
  },
  {
    name: Streams.BILLING,
    description: 'Closed usage windows for billing subscribers (deterministic CloudEvent ids)',
    subjects: [SubjectFilters.allBilling],
    retention: 'limits',
    denyDelete: false,
    denyPurge: false,
    discard: 'new',
    duplicateWindowSeconds: 3600,
  },
  {
    name: Streams.AUDIT,
    description: 'Who did what, when, from where, with what outcome',
    subjects: [SubjectFilters.allAudit],
    retention: 'limits',
    denyDelete: true,
    denyPurge: true,
    discard: 'new',
    duplicateWindowSeconds: 120,
  },
  {
    name: Streams.DEADLETTER,
    description: 'Poison messages copied here before termination, and max-deliveries advisories',
    subjects: [SubjectFilters.allDeadLetters, SubjectFilters.maxDeliveriesAdvisories],
    retention: 'limits',
    denyDelete: false,
    denyPurge: false,
    maxAgeSetting: 'deadLetterMaxAge',
    discard: 'old',
    duplicateWindowSeconds: 120,
  },
];

export interface ConsumerDefinition {
  stream: StreamName;
  durable: string;
  description: string;
  filterSubject: string;
  /** Delivery attempts before the message is dead-lettered. */
  maxDeliver: number;
  ackWaitSeconds: number;
  /**
   * Messages delivered and not yet acknowledged. A projection applies up to this many in one
   * transaction (one instance at a time, in stream order: see the projection runner); command
   * consumers take this many in parallel.
   */
  maxAckPending: number;
  /** Which service pulls from it. */
  owner: ServiceName;
  kind: 'commands' | 'projection' | 'reactor';
}

export const Services = ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks'] as const;
export type ServiceName = (typeof Services)[number];

export const Consumers = {
  provisionerCommands: 'provisioner-commands',
  provisionerPlacements: 'provisioner-placements',
  meteringCommands: 'metering-commands',
  quotaCommands: 'quota-commands',
  backupCommands: 'backup-commands',
  backupMigrations: 'backup-migrations',
  gatewayTenants: 'gateway-tenants',
  gatewayAudit: 'gateway-audit',
  quotaTenants: 'quota-tenants',
  meteringTenants: 'metering-tenants',
  backupApiCalls: 'backup-api-calls',
  backupSignIns: 'backup-sign-ins',
  backupTenants: 'backup-tenants',
  backupBackups: 'backup-backups',
  backupMigrationEvents: 'backup-migration-events',
  meteringUsage: 'metering-usage',
  quotaEvents: 'quota-events',
  quotaBilling: 'quota-billing',
  webhooksEvents: 'webhooks-events',
  webhooksBilling: 'webhooks-billing',
} as const;

const commandConsumer = (
  owner: ServiceName,
  durable: string,
  filterSubject: string,
  maxDeliver = 5,
): ConsumerDefinition => ({
  stream: Streams.COMMANDS,
  durable,
  description: `${owner}: commands on ${filterSubject}`,
  filterSubject,
  maxDeliver,
  ackWaitSeconds: 30,
  maxAckPending: 64,
  owner,
  kind: 'commands',
});

/** The largest batch a projection applies in one transaction: its consumers' `max_ack_pending`. */
export const projectionBatchSize = 500;

const tenantProjection = (owner: ServiceName, durable: string): ConsumerDefinition => ({
  stream: Streams.EVENTS,
  durable,
  description: `${owner}: tenant projection (ordered, in batches)`,
  filterSubject: SubjectFilters.tenantEvents,
  maxDeliver: 10,
  ackWaitSeconds: 30,
  maxAckPending: projectionBatchSize,
  owner,
  kind: 'projection',
});

/** The definition of a durable consumer; throws when the contracts do not define it. */
export function consumerDefinition(durable: string): ConsumerDefinition {
  const def = consumerDefinitions.find((c) => c.durable === durable);
  if (!def) throw new Error(`consumer ${durable} is not defined in @ttm/contracts`);
  return def;
}

/**
 * Core NATS subjects that no stream keeps: request-reply queries and live notices, delivered at
 * most once (a service that is not listening misses them; each use says why that is fine). Plain
 * JSON bodies, no CloudEvents headers. No stream's subjects may cover them (a test checks).
 */
export const CoreSubjects = {
  /** The gateway asks metering for usage windows (queue group `metering`); the reply goes to its inbox. */
  usageWindowsQuery: 'query.usage.windows',
  /** A gateway revoked a tenant API key: every gateway drops it from its cache (a reconnect clears the cache). */
  apiKeyRevoked: 'ttm.gateway.api-key-revoked',
  /** The gateway manages webhook endpoints and reads delivery logs (queue group `webhooks`). */
  webhookEndpoints: 'query.webhooks.endpoints',
  /** The gateway starts, reads and steers fleet schema upgrades (queue group `provisioner`). */
  upgrades: 'query.provisioner.upgrades',
  /** The gateway reads the last activity of tenants and who is idle (queue group `backup`). */
  idleTenantsQuery: 'query.backup.idle-tenants',
} as const;

export const consumerDefinitions: readonly ConsumerDefinition[] = [
  // 20 deliveries: a registration waits out a PostgreSQL or NATS outage of several minutes on its
  // redeliveries (the provisioner's redelivery delays say how long) before its provisioning stalls.
  commandConsumer('provisioner', Consumers.provisionerCommands, SubjectFilters.tenantCommands, 20),
  commandConsumer('metering', Consumers.meteringCommands, SubjectFilters.usageCommands),
  commandConsumer('quota', Consumers.quotaCommands, SubjectFilters.quotaCommands),
  commandConsumer('backup', Consumers.backupCommands, SubjectFilters.backupCommands),
  commandConsumer('backup', Consumers.backupMigrations, SubjectFilters.migrationCommands),
  {
    ...tenantProjection('provisioner', Consumers.provisionerPlacements),
    description: 'provisioner: follows migrations into its placement counts (ordered, in batches)',
  },
  tenantProjection('gateway', Consumers.gatewayTenants),
  tenantProjection('quota', Consumers.quotaTenants),
  tenantProjection('metering', Consumers.meteringTenants),
  tenantProjection('backup', Consumers.backupTenants),
  {
    ...tenantProjection('backup', Consumers.backupBackups),
    description: 'backup: backup projection (ordered, in batches)',
    filterSubject: SubjectFilters.backupEvents,
  },
  {
    ...tenantProjection('backup', Consumers.backupMigrationEvents),
    description: 'backup: migration projection, for the removal of sources after their grace period (ordered)',
    filterSubject: SubjectFilters.migrationEvents,
  },
  {
    stream: Streams.AUDIT,
    durable: Consumers.gatewayAudit,
    description: 'gateway: audit log projection (ordered, in batches)',
    filterSubject: SubjectFilters.allAudit,
    maxDeliver: 10,
    ackWaitSeconds: 30,
    maxAckPending: projectionBatchSize,
    owner: 'gateway',
    kind: 'projection',
  },
  {
    // Last activity per tenant, for archiving idle tenants: already aggregated (hourly windows, sign-ins).
    stream: Streams.BILLING,
    durable: Consumers.backupApiCalls,
    description: 'backup: last API call per tenant from the closed api_calls windows, for the idle sweep (in batches)',
    filterSubject: SubjectFilters.apiCallWindows,
    maxDeliver: 10,
    ackWaitSeconds: 30,
    maxAckPending: projectionBatchSize,
    owner: 'backup',
    kind: 'projection',
  },
  {
    stream: Streams.AUDIT,
    durable: Consumers.backupSignIns,
    description: 'backup: last sign-in per tenant from the login audit entries, for the idle sweep (in batches)',
    filterSubject: SubjectFilters.signIns,
    maxDeliver: 10,
    ackWaitSeconds: 30,
    maxAckPending: projectionBatchSize,
    owner: 'backup',
    kind: 'projection',
  },
  {
    // Batches, not order: aggregation is commutative and metering dedups by key in its database.
    stream: Streams.USAGE,
    durable: Consumers.meteringUsage,
    description: 'metering: usage counts and samples, pulled in batches and aggregated into windows',
    filterSubject: SubjectFilters.allUsage,
    maxDeliver: 10,
    ackWaitSeconds: 60,
    maxAckPending: 50_000,
    owner: 'metering',
    kind: 'reactor',
  },
  {
    stream: Streams.EVENTS,
    durable: Consumers.quotaEvents,
    description: 'quota: limit overrides projection from the quota events (ordered, in batches)',
    filterSubject: SubjectFilters.quotaEvents,
    maxDeliver: 10,
    ackWaitSeconds: 30,
    maxAckPending: projectionBatchSize,
    owner: 'quota',
    kind: 'projection',
  },
  {
    stream: Streams.BILLING,
    durable: Consumers.quotaBilling,
    description: 'quota: settles closed monthly windows against the limits (ordered, in batches)',
    filterSubject: SubjectFilters.allBilling,
    maxDeliver: 10,
    ackWaitSeconds: 30,
    maxAckPending: projectionBatchSize,
    owner: 'quota',
    kind: 'projection',
  },
  {
    // Fan-out is cheap (rows in an outbox); delivery itself runs apart, per endpoint.
    stream: Streams.EVENTS,
    durable: Consumers.webhooksEvents,
    description: 'webhooks: turns deliverable events into deliveries, one per subscribed endpoint (ordered)',
    filterSubject: SubjectFilters.allEvents,
    maxDeliver: 10,
    ackWaitSeconds: 30,
    maxAckPending: projectionBatchSize,
    owner: 'webhooks',
    kind: 'projection',
  },
  {
    stream: Streams.BILLING,
    durable: Consumers.webhooksBilling,
    description: 'webhooks: turns closed billing windows into deliveries (ordered)',
    filterSubject: SubjectFilters.allBilling,
    maxDeliver: 10,
    ackWaitSeconds: 30,
    maxAckPending: projectionBatchSize,
    owner: 'webhooks',
    kind: 'projection',
  },
];

export const Buckets = {
  /** slug -> tenantId; `create()` makes a slug unique for good. */
  slugs: 'ttm-slugs',
  /** tenantId.meter -> enforcement state written by quota, read by the gateway. */
  quotaState: 'ttm-quota-state',
  /** tenantId.meter -> usage so far this month (counts) or latest sample (gauges), written by metering, read by quota. */
  usageTotals: 'ttm-usage-totals',
  /** tenantId -> write freeze (restore or migration in progress), set by backup, read by the gateway. */
  writeFreeze: 'ttm-write-freeze',
} as const;

export interface BucketDefinition {
  bucket: string;
  description: string;
  history: number;
}

export const bucketDefinitions: readonly BucketDefinition[] = [
  { bucket: Buckets.slugs, description: 'Workspace subdomain reservations: slug -> tenant id', history: 1 },
  { bucket: Buckets.quotaState, description: 'Quota enforcement state per tenant and meter', history: 1 },
  {
    bucket: Buckets.usageTotals,
    description: 'Usage so far per tenant and meter (month-to-date counts, latest samples)',
    history: 1,
  },
  {
    bucket: Buckets.writeFreeze,
    description: 'Write freezes: tenant id -> reason, operation, since, retry-after (writes get 503 meanwhile)',
    history: 1,
  },
];

export const ObjectStores = {
  backups: 'ttm-backups',
} as const;

/** The object store bucket of one region's backups (the backup service makes it; regions never share one). */
export const backupBucketOf = (region: string): string => `${ObjectStores.backups}-${region}`;

export const objectStoreDefinitions: readonly { bucket: string; description: string }[] = [
  { bucket: ObjectStores.backups, description: 'Tenant backup artifacts' },
];
