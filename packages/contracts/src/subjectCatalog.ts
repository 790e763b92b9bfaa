/**
 * Every subject pattern the system uses, derived from the constants in topology.ts:
 * the fixed `CommandSubjects`, the wildcard `SubjectFilters`, and each `Subjects` builder
 * rendered with `{param}` placeholders. The AsyncAPI document has one channel per entry, and
 * the contracts tests fail when a constant has no entry (or an entry lacks its metadata).
 */
import type { MessageDefinition } from './message.js';
import { commandDefinitions } from './registry.js';
import { patternParameters, patternToFilter, subjectCovers } from './subjectMatch.js';
import {
  CommandSubjects,
  CoreSubjects,
  consumerDefinitions,
  type ServiceName,
  Services,
  type StreamName,
  SubjectFilters,
  Subjects,
  streamDefinitions,
} from './topology.js';

/** Which constant an entry comes from: a fixed subject, a wildcard filter, or a builder. */
export type SubjectSource = 'CommandSubjects' | 'CoreSubjects' | 'SubjectFilters' | 'Subjects';

/** What travels on the subject: our CloudEvents, a copied poison message, a NATS advisory, or core NATS JSON. */
export type SubjectPayload = 'cloudevent' | 'dead-letter' | 'advisory' | 'json';

export interface SubjectCatalogEntry {
  /** `<source>.<key>`, the TypeScript expression that spells it; also the AsyncAPI channel id. */
  id: string;
  source: SubjectSource;
  key: string;
  /** The subject, the filter, or the builder's output with `{param}` placeholders. */
  pattern: string;
  /** `subject`: one fixed subject; `pattern`: parameterized; `filter`: a wildcard subscription. */
  kind: 'subject' | 'pattern' | 'filter';
  parameters: readonly string[];
  description: string;
  /** The stream whose subjects cover it; undefined (a test failure) if none or several do. */
  stream: StreamName | undefined;
  /** Services that publish on it (none for filters and generic builders). */
  producers: readonly ServiceName[];
  payload: SubjectPayload;
}

interface EntryMeta {
  description: string;
  producers?: readonly ServiceName[];
}

interface BuilderMeta extends EntryMeta {
  /** Placeholder names, one per builder argument. */
  params: readonly string[];
}

/** Descriptions and publishers of the core NATS subjects. A new CoreSubjects constant needs one (a test checks). */
const coreMeta: Partial<Record<keyof typeof CoreSubjects, EntryMeta>> = {
  usageWindowsQuery: {
    description: 'Usage windows of one tenant: a request-reply query that metering answers (queue group `metering`)',
    producers: ['gateway'],
  },
  apiKeyRevoked: {
    description: 'A revoked tenant API key, announced so every gateway instance drops it from its cache',
    producers: ['gateway'],
  },
  webhookEndpoints: {
    description:
      'Webhook endpoints and delivery logs: a request-reply that the webhooks service answers (queue group `webhooks`)',
    producers: ['gateway'],
  },
  upgrades: {
    description:
      'Fleet schema upgrades: start, read, pause, resume, cancel, roll back; a request-reply that the provisioner answers (queue group `provisioner`)',
    producers: ['gateway'],
  },
  idleTenantsQuery: {
    description:
      "Tenants' last activity and what the idle sweep makes of them: a request-reply that the backup service answers (queue group `backup`)",
    producers: ['gateway'],
  },
};

/**
 * Who sends each command when it is not the gateway alone. The NATS permissions of each service
 * are derived from these producers (service-kit natsAuthorization), so a wrong entry is refused
 * by a locked-down server.
 */
const commandProducers: Partial<Record<keyof typeof CommandSubjects, readonly ServiceName[]>> = {
  /** The backup scheduler asks for scheduled backups. */
  backupCreate: ['gateway', 'backup'],
  /** The migration saga switches the tenant's placement. */
  tenantChangePlacement: ['backup'],
  /** The archive saga records the archive, then the restore that brings the tenant back. */
  tenantArchive: ['backup'],
  tenantUnarchive: ['backup'],
  /** An operator asks (gateway); the idle sweep of the backup service asks for idle tenants (reason `idle`). */
  backupArchive: ['gateway', 'backup'],
};

/** Descriptions of the wildcard filters. A new SubjectFilters constant needs one (a test checks). */
const filterMeta: Partial<Record<keyof typeof SubjectFilters, EntryMeta>> = {
  allCommands: { description: 'Every command (the COMMANDS stream)' },
  tenantCommands: { description: 'Tenant lifecycle commands, handled by the provisioner' },
  usageCommands: { description: 'Usage and metering commands, handled by metering' },
  quotaCommands: { description: 'Quota commands, handled by quota' },
  backupCommands: { description: 'Backup and restore commands, handled by backup' },
  migrationCommands: { description: 'Tenant migration commands, handled by backup' },
  allEvents: { description: 'Every domain event (the EVENTS stream)' },
  tenantEvents: { description: 'Every tenant event, the input of the tenant projections' },
  backupEvents: { description: 'Every backup event' },
  quotaEvents: { description: 'Every quota event: overrides, warnings, exceeded and cleared notices' },
  migrationEvents: { description: 'Every migration event: start, steps, completion, source removal, failure' },
  allUsage: { description: 'Every usage sample (the USAGE stream)' },
  allBilling: { description: 'Every closed usage window (the BILLING stream)' },
  allAudit: { description: 'Every audit record (the AUDIT stream)' },
  apiCallWindows: {
    description: "Every tenant's closed api_calls windows: the backup service's last API call per tenant",
  },
  signIns: {
    description: "Every tenant's sign-ins (login audit entries): the backup service's last sign-in per tenant",
  },
  allDeadLetters: { description: 'Every dead-lettered message' },
  maxDeliveriesAdvisories: { description: 'Every max-deliveries advisory, captured by the DEADLETTER stream' },
};

const consumerOwners = [...new Set(consumerDefinitions.map((c) => c.owner))].sort();

/** Placeholders and descriptions of the builders. A new Subjects builder needs one (a test checks). */
const builderMeta: Partial<Record<keyof typeof Subjects, BuilderMeta>> = {
  command: {
    params: ['aggregate', 'verb'],
    description: 'Generic command subject; the fixed ones are the CommandSubjects channels',
  },
  event: {
    params: ['aggregate', 'id'],
    description:
      'Generic event subject, one per aggregate instance (writers append with Nats-Expected-Last-Subject-Sequence)',
  },
  tenantEvents: {
    params: ['tenantId'],
    description: "One tenant's events, in order; the provisioner appends with optimistic concurrency",
    producers: ['provisioner'],
  },
  backupEvents: { params: ['backupId'], description: "One backup's events, in order", producers: ['backup'] },
  quotaEvents: {
    params: ['tenantId'],
    description: "One tenant's quota events: overrides, warnings, exceeded and cleared notices",
    producers: ['quota'],
  },
  alertEvents: {
    params: ['fingerprint'],
    description: "One alert's firing and resolved events, turned from Alertmanager's webhook by the gateway",
    producers: ['gateway'],
  },
  webhookEvents: {
    params: ['endpointId'],
    description: "One webhook endpoint's lifecycle events (disabled after sustained failure)",
    producers: ['webhooks'],
  },
  migrationEvents: {
    params: ['migrationId'],
    description: "One tenant migration's events, in order (the saga's progress)",
    producers: ['backup'],
  },
  usage: {
    params: ['tenantId', 'meter'],
    description:
      'Raw usage of one tenant and meter: batch counts of API calls (gateway) and storage/user samples (metering)',
    producers: ['gateway', 'metering'],
  },
  usageBatch: {
    params: ['producer', 'meter'],
    description:
      'Raw usage of one meter, many tenants in one message (ttm.usage.recorded.v2): the records of one gateway flush',
    producers: ['gateway'],
  },
  billing: {
    params: ['tenantId', 'meter'],
    description: 'Closed usage windows of one tenant and meter, with deterministic CloudEvent ids',
    producers: ['metering'],
  },
  audit: {
    params: ['scope', 'action'],
    description: 'Who did what, when, from where, with what outcome',
    producers: Services,
  },
  deadLetter: {
    params: ['stream', 'consumer'],
    description: 'Poison messages copied here (headers and body unchanged) before the consumer terminates them',
    producers: consumerOwners,
  },
  maxDeliveriesAdvisory: {
    params: ['stream', 'consumer'],
    description:
      'Published by nats-server when a message exhausts max_deliver; the DEADLETTER stream captures it so it is never lost from view',
  },
};

/** What each `{param}` placeholder stands for. */
export const parameterDescriptions: Readonly<Record<string, string>> = {
  aggregate: 'Aggregate name, e.g. `tenant` or `backup`',
  verb: 'Command verb, e.g. `register`',
  id: 'Aggregate instance id',
  tenantId: 'Tenant id (uuid)',
  backupId: 'Backup id (uuid)',
  migrationId: 'Migration id (uuid)',
  meter: 'Meter name from configuration, e.g. `api-requests`',
  producer: 'Which kind of service published the batch, e.g. `gateway`',
  scope: 'Tenant id, or `system` for actions not about one tenant',
  action: 'What was done, e.g. `tenant-suspended`',
  stream: 'Stream name',
  consumer: 'Durable consumer name',
  fingerprint: "Alertmanager's fingerprint of the alert",
  endpointId: 'Webhook endpoint id (uuid)',
};

/**
 * Event types published somewhere other than `evt.<aggregate>.<id>` (e.g. a closed usage
 * window on `billing.{tenantId}.{meter}`): type -> catalog pattern. Empty while every event
 * lives on its aggregate's subject.
 */
export const eventSubjectOverrides: Readonly<Record<string, string>> = {
  'ttm.audit.recorded.v1': 'audit.{scope}.{action}',
  'ttm.usage.recorded.v1': 'usage.{tenantId}.{meter}',
  'ttm.usage.recorded.v2': 'usage.batch.{producer}.{meter}',
  'ttm.billing.window-closed.v1': 'billing.{tenantId}.{meter}',
};

/** The subject pattern a message is published on, with `{param}` placeholders. */
export function subjectPatternOf(def: MessageDefinition): string {
  if (def.kind === 'command') return def.subject;
  return eventSubjectOverrides[def.type] ?? Subjects.event(def.aggregate, '{id}');
}

function streamOf(pattern: string): StreamName | undefined {
  const filter = patternToFilter(pattern);
  const streams = streamDefinitions.filter((s) => s.subjects.some((subject) => subjectCovers(subject, filter)));
  return streams.length === 1 ? streams[0]!.name : undefined;
}

function payloadOf(pattern: string): SubjectPayload {
  if (subjectCovers(SubjectFilters.maxDeliveriesAdvisories, patternToFilter(pattern))) return 'advisory';
  if (subjectCovers(SubjectFilters.allDeadLetters, patternToFilter(pattern))) return 'dead-letter';
  return 'cloudevent';
}

function entry(
  source: SubjectSource,
  key: string,
  pattern: string,
  kind: SubjectCatalogEntry['kind'],
  meta: EntryMeta,
): SubjectCatalogEntry {
  return {
    id: `${source}.${key}`,
    source,
    key,
    pattern,
    kind,
    parameters: patternParameters(pattern),
    description: meta.description,
    stream: streamOf(pattern),
    producers: meta.producers ?? [],
    payload: payloadOf(pattern),
  };
}

/**
 * `Subjects.usage` with `['tenantId', 'meter']` -> `usage.{tenantId}.{meter}`. The builder gets
 * plain-letter stand-ins (whatever `token()` accepts, a word passes), swapped for placeholders after.
 */
export function renderBuilder(builder: (...args: string[]) => string, params: readonly string[]): string {
  const standIns = params.map((_, i) => `zzttmparam${String.fromCharCode(97 + i)}zz`);
  return builder(...standIns)
    .split('.')
    .map((t) => {
      const i = standIns.indexOf(t);
      return i < 0 ? t : `{${params[i]}}`;
    })
    .join('.');
}

function buildCatalog(): SubjectCatalogEntry[] {
  const entries: SubjectCatalogEntry[] = [];
  for (const [key, subject] of Object.entries(CommandSubjects) as [keyof typeof CommandSubjects, string][]) {
    const def = commandDefinitions.find((d) => d.subject === subject);
    const description = def ? `${def.description} (${def.type})` : 'Command subject';
    const producers = commandProducers[key] ?? ['gateway'];
    entries.push(entry('CommandSubjects', key, subject, 'subject', { description, producers }));
  }
  for (const [key, subject] of Object.entries(CoreSubjects) as [keyof typeof CoreSubjects, string][]) {
    entries.push({
      ...entry('CoreSubjects', key, subject, 'subject', coreMeta[key] ?? { description: subject }),
      payload: 'json',
    });
  }
  for (const [key, builder] of Object.entries(Subjects) as [keyof typeof Subjects, (...a: string[]) => string][]) {
    const meta = builderMeta[key];
    const params = meta?.params ?? Array.from({ length: builder.length }, (_, i) => `param${i + 1}`);
    const pattern = renderBuilder(builder, params);
    entries.push(entry('Subjects', key, pattern, 'pattern', meta ?? { description: `Subjects.${key}` }));
  }
  for (const [key, filter] of Object.entries(SubjectFilters) as [keyof typeof SubjectFilters, string][]) {
    entries.push(entry('SubjectFilters', key, filter, 'filter', filterMeta[key] ?? { description: filter }));
  }
  return entries;
}

/** Every subject pattern of the system, in a stable order: commands, core subjects, builders, filters. */
export const subjectCatalog: readonly SubjectCatalogEntry[] = buildCatalog();

/**
 * Problems a test reports: constants without catalog metadata, builders whose placeholder count
 * differs from their arity, and command subjects without a command definition.
 */
export function catalogMetadataProblems(): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(CoreSubjects) as (keyof typeof CoreSubjects)[]) {
    if (!coreMeta[key]) problems.push(`CoreSubjects.${key} has no entry in coreMeta (subjectCatalog.ts)`);
  }
  for (const key of Object.keys(SubjectFilters) as (keyof typeof SubjectFilters)[]) {
    if (!filterMeta[key]) problems.push(`SubjectFilters.${key} has no entry in filterMeta (subjectCatalog.ts)`);
  }
  for (const [key, builder] of Object.entries(Subjects) as [keyof typeof Subjects, (...a: string[]) => string][]) {
    const meta = builderMeta[key];
    if (!meta) problems.push(`Subjects.${key} has no entry in builderMeta (subjectCatalog.ts)`);
    else if (meta.params.length !== builder.length) {
      problems.push(`Subjects.${key} takes ${builder.length} arguments but builderMeta names ${meta.params.length}`);
    }
  }
  for (const [key, subject] of Object.entries(CommandSubjects)) {
    if (!commandDefinitions.some((d) => d.subject === subject)) {
      problems.push(`CommandSubjects.${key} (${subject}) has no command definition`);
    }
  }
  for (const e of subjectCatalog) {
    for (const p of e.parameters) {
      if (!(p in parameterDescriptions))
        problems.push(`${e.id}: placeholder {${p}} has no parameterDescriptions entry`);
    }
  }
  return problems;
}
