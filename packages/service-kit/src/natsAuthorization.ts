import {
  Buckets,
  backupBucketOf,
  type ConsumerDefinition,
  CoreSubjects,
  consumerDefinitions,
  ObjectStores,
  patternToFilter,
  type ServiceName,
  Services,
  type StreamName,
  Streams,
  SubjectFilters,
  Subjects,
  subjectCatalog,
} from '@ttm/contracts';

/**
 * NATS users of a locked-down deployment: one per service, and `admin` for bootstrap and
 * operators (the NATS CLI). `natsAuthorizationConfig` writes the nats-server (2.9) `authorization`
 * block; with it, a connection without a known user is refused.
 *
 * Each service gets ALLOW-lists: it publishes only the subjects the contracts name it a producer
 * of (subjectCatalog), pulls and acks only the durable consumers it owns (consumerDefinitions),
 * reads only the streams and KV buckets below, and receives only on its own inbox prefix
 * (`_INBOX_<user>`, set by connectNats), so nobody reads another service's pulled messages.
 * A short deny list on top closes what a wildcard in the allow-list would open (another
 * service's durables, KV writes). A subject a service starts to use must be added to the
 * contracts (producers) or to the tables here, or the server refuses it: the test
 * `natsAuthorization.test.ts` runs each service's job against a server with this config.
 */
export const NATS_SERVICE_USERS = Services;
export type NatsServiceUser = ServiceName;

export interface NatsPermissions {
  publish: { allow: string[]; deny: string[] };
  subscribe: { allow: string[]; deny: string[] };
}

/** The inbox prefix of a NATS user: replies and pulled messages reach only this user. */
export const inboxPrefixOf = (user: string): string => `_INBOX_${user}`;

interface BucketAccess {
  writers: readonly NatsServiceUser[];
  readers: readonly NatsServiceUser[];
}

/** Who writes and who reads each KV bucket (writers read too). */
export const KV_ACCESS: Readonly<Record<(typeof Buckets)[keyof typeof Buckets], BucketAccess>> = {
  [Buckets.slugs]: { writers: ['provisioner'], readers: [] },
  // The provisioner writes a new tenant's limits; quota writes enforcement.
  [Buckets.quotaState]: { writers: ['quota', 'provisioner'], readers: ['gateway'] },
  [Buckets.usageTotals]: { writers: ['metering'], readers: ['quota', 'gateway'] },
  [Buckets.writeFreeze]: { writers: ['backup'], readers: ['gateway'] },
};

/** Who answers or listens on each core subject (publishers come from the subject catalog). */
export const CORE_SUBSCRIBERS: Readonly<Record<keyof typeof CoreSubjects, readonly NatsServiceUser[]>> = {
  usageWindowsQuery: ['metering'],
  apiKeyRevoked: ['gateway'],
  webhookEndpoints: ['webhooks'],
  upgrades: ['provisioner'],
  idleTenantsQuery: ['backup'],
};

/** Stream subjects a service also receives live, as a core subscription (no consumer). */
const LIVE_SUBSCRIPTIONS: Partial<Record<NatsServiceUser, readonly string[]>> = {
  // The quota override route waits for the quota service's answer on evt.quota.<tenantId>.
  gateway: [SubjectFilters.quotaEvents],
};

/** Streams every service reads ad hoc (aggregates read before a command is decided, ordered consumers). */
const SHARED_READS: readonly string[] = [Streams.EVENTS];

/**
 * Streams whose messages only the owners of the named consumers may read raw: COMMANDS carries
 * registrations (with the admin's password hash), so only the provisioner reads it beyond its pull.
 */
const RAW_READERS: Partial<Record<StreamName, readonly NatsServiceUser[]>> = {
  [Streams.COMMANDS]: ['provisioner'],
};

const API = '$JS.API';
const kvStream = (bucket: string) => `KV_${bucket}`;
const objStream = (bucket: string) => `OBJ_${bucket}`;

/** Metadata any service may ask for: it carries no message. */
const METADATA = [
  `${API}.INFO`,
  `${API}.STREAM.INFO.*`,
  `${API}.STREAM.NAMES`,
  `${API}.STREAM.LIST`,
  `${API}.CONSUMER.INFO.*.*`,
  `${API}.CONSUMER.NAMES.*`,
  `${API}.CONSUMER.LIST.*`,
  // Flow control replies of push consumers (KV watches).
  '$JS.FC.>',
];

/** Reading a stream: ephemeral and ordered consumers, direct and message gets. */
function readsOf(stream: string): string[] {
  return [
    `${API}.CONSUMER.CREATE.${stream}`,
    `${API}.CONSUMER.CREATE.${stream}.>`,
    `${API}.CONSUMER.MSG.NEXT.${stream}.>`,
    `${API}.CONSUMER.DELETE.${stream}.>`,
    ...rawReadsOf(stream),
  ];
}

function rawReadsOf(stream: string): string[] {
  return [`${API}.STREAM.MSG.GET.${stream}`, `${API}.DIRECT.GET.${stream}`, `${API}.DIRECT.GET.${stream}.>`];
}

/** Pulling from one durable consumer: (re)create it with its own filter, pull, ack, dead-letter. */
function durableOf(def: ConsumerDefinition): string[] {
  const id = `${def.stream}.${def.durable}`;
  return [
    `${API}.CONSUMER.CREATE.${id}`,
    `${API}.CONSUMER.CREATE.${id}.${def.filterSubject}`,
    `${API}.CONSUMER.DURABLE.CREATE.${id}`,
    `${API}.CONSUMER.DELETE.${id}`,
    `${API}.CONSUMER.MSG.NEXT.${id}`,
    `$JS.ACK.${id}.>`,
    Subjects.deadLetter(def.stream, def.durable),
  ];
}

/** What no allow-list wildcard may open: another service's durables on a stream it reads. */
function othersDurables(user: NatsServiceUser, readable: ReadonlySet<string>): string[] {
  return consumerDefinitions
    .filter((def) => def.owner !== user && readable.has(def.stream))
    .flatMap((def) => {
      const id = `${def.stream}.${def.durable}`;
      return [
        `${API}.CONSUMER.CREATE.${id}`,
        `${API}.CONSUMER.CREATE.${id}.>`,
        `${API}.CONSUMER.DURABLE.CREATE.${id}`,
        `${API}.CONSUMER.DELETE.${id}`,
        `${API}.CONSUMER.MSG.NEXT.${id}`,
      ];
    });
}

/** The subjects the contracts name this service a producer of, as NATS filters. */
export function publishedSubjects(user: NatsServiceUser): string[] {
  return subjectCatalog
    .filter((e) => e.producers.includes(user) && e.payload !== 'dead-letter' && e.payload !== 'advisory')
    .map((e) => patternToFilter(e.pattern));
}

export interface NatsAuthorizationOptions {
  /**
   * Object store buckets of the backup service (`ttm-backups-<region>` for each region, or those
   * named in BACKUP_STORES): it creates them on first use.
   */
  objectStoreBuckets?: readonly string[];
}

export function servicePermissions(user: NatsServiceUser, options: NatsAuthorizationOptions = {}): NatsPermissions {
  const owned = consumerDefinitions.filter((def) => def.owner === user);
  const readable = new Set<string>(SHARED_READS);
  for (const def of owned) if (def.stream !== Streams.COMMANDS) readable.add(def.stream);
  const publish = new Set<string>([...METADATA, ...publishedSubjects(user), ...owned.flatMap(durableOf)]);
  const subscribe = new Set<string>([`${inboxPrefixOf(user)}.>`, '$SRV.>', ...(LIVE_SUBSCRIPTIONS[user] ?? [])]);
  const deny = new Set<string>();

  for (const [stream, readers] of Object.entries(RAW_READERS)) {
    if (readers.includes(user)) for (const s of rawReadsOf(stream)) publish.add(s);
  }
  for (const [bucket, access] of Object.entries(KV_ACCESS)) {
    const writes = access.writers.includes(user);
    if (writes || access.readers.includes(user)) readable.add(kvStream(bucket));
    if (writes) publish.add(`$KV.${bucket}.>`);
  }
  for (const [key, subscribers] of Object.entries(CORE_SUBSCRIBERS) as [keyof typeof CoreSubjects, string[]][]) {
    if (subscribers.includes(user)) subscribe.add(CoreSubjects[key]);
  }
  if (user === 'backup') {
    const buckets = options.objectStoreBuckets ?? [ObjectStores.backups];
    for (const bucket of buckets) {
      readable.add(objStream(bucket));
      publish.add(`${API}.STREAM.CREATE.${objStream(bucket)}`);
      publish.add(`${API}.STREAM.PURGE.${objStream(bucket)}`);
      publish.add(`$O.${bucket}.>`);
    }
  }
  for (const stream of readable) for (const s of readsOf(stream)) publish.add(s);
  for (const s of othersDurables(user, readable)) deny.add(s);
  return {
    publish: { allow: [...publish], deny: [...deny] },
    // Commands travel only through JetStream pulls to the owners' inboxes.
    subscribe: { allow: [...subscribe], deny: [SubjectFilters.allCommands] },
  };
}

/** A password in the configuration: the text itself, or a variable the server reads from its environment. */
export type NatsPassword = string | { env: string };

/** The environment variable holding a service's NATS password in docker-compose. */
export const natsPasswordVariable = (user: NatsServiceUser | 'admin'): string => `NATS_${user.toUpperCase()}_PASSWORD`;

const quote = (value: string) => JSON.stringify(value);
const list = (values: readonly string[]) => `[${values.map(quote).join(', ')}]`;
const password = (p: NatsPassword) => (typeof p === 'string' ? quote(p) : `$${p.env}`);

/**
 * The `authorization { users = [...] }` block of nats-server.conf for these passwords (every
 * service and `admin`). Passwords may be bcrypt hashes (`nats server passwd`), which the
 * server accepts in place of the password, or `{ env: NAME }`: the server reads $NAME from its
 * environment when it loads the file.
 */
export function natsAuthorizationConfig(
  passwords: Record<NatsServiceUser | 'admin', NatsPassword>,
  options: NatsAuthorizationOptions = {},
): string {
  const users = [
    `    { user: "admin", password: ${password(passwords.admin)} }`,
    ...NATS_SERVICE_USERS.map((user) => {
      const p = servicePermissions(user, options);
      return [
        `    { user: ${quote(user)}, password: ${password(passwords[user])}, permissions: {`,
        `        publish: { allow: ${list(p.publish.allow)}, deny: ${list(p.publish.deny)} }`,
        `        subscribe: { allow: ${list(p.subscribe.allow)}, deny: ${list(p.subscribe.deny)} }`,
        // Replies to requests it received ($SRV pings, queries it answers).
        '        allow_responses: true',
        '    } }',
      ].join('\n');
    }),
  ];
  return `authorization {\n  users = [\n${users.join('\n')}\n  ]\n}\n`;
}

/** TLS, as comment lines to uncomment: the services then set NATS_TLS_CA (and a client cert if verify is on). */
export const NATS_TLS_EXAMPLE = [
  '# TLS (optional): uncomment, and give the services NATS_TLS_CA (plus NATS_TLS_CERT/KEY with verify: true).',
  '# tls {',
  '#   cert_file: "/etc/nats/tls/server.crt"',
  '#   key_file: "/etc/nats/tls/server.key"',
  '#   ca_file: "/etc/nats/tls/ca.crt"',
  '#   verify: false',
  '# }',
].join('\n');

/** A whole nats-server.conf: JetStream, the authorization block, and TLS as an option. */
export function natsServerConfig(
  passwords: Record<NatsServiceUser | 'admin', NatsPassword>,
  options: NatsAuthorizationOptions & { listen?: string; storeDir?: string } = {},
): string {
  return [
    '# Generated by @ttm/service-kit natsServerConfig (npm run nats:auth): edit the generator, not this file.',
    ...(options.listen ? [`listen: ${quote(options.listen)}`] : []),
    `jetstream { store_dir: ${quote(options.storeDir ?? '/data')} }`,
    NATS_TLS_EXAMPLE,
    natsAuthorizationConfig(passwords, options),
  ].join('\n');
}

/** The object store buckets the backup service uses for these regions (BACKUP_STORE=nats). */
export const backupObjectStoreBuckets = (regions: readonly string[]): string[] => [
  ObjectStores.backups,
  ...regions.map(backupBucketOf),
];

/**
 * docker-compose's nats-server.conf (infra/nats/nats-server.conf): passwords from the server's
 * environment (NATS_<USER>_PASSWORD), the default regions' backup buckets.
 */
export function composeNatsServerConfig(regions: readonly string[]): string {
  const passwords = Object.fromEntries(
    (['admin', ...NATS_SERVICE_USERS] as const).map((user) => [user, { env: natsPasswordVariable(user) }]),
  ) as Record<NatsServiceUser | 'admin', NatsPassword>;
  return natsServerConfig(passwords, {
    listen: '0.0.0.0:4222',
    storeDir: '/data',
    objectStoreBuckets: backupObjectStoreBuckets(regions),
  });
}
