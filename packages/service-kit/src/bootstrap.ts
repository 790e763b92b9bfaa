import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { nanos } from '@nats-io/transport-node';
import {
  type BucketDefinition,
  bucketDefinitions,
  type ConsumerDefinition,
  consumerDefinitions,
  objectStoreDefinitions,
  type StreamDefinition,
  streamDefinitions,
} from '@ttm/contracts';
import type { CommonConfig } from './config.js';
import type { Logger } from './logger.js';
import type { NatsConnection } from './nats.js';

/** The per-deployment knobs of the topology; everything else is fixed in `@ttm/contracts`. */
export interface TopologySettings {
  replicas: number;
  usageMaxAgeMs: number;
  deadLetterMaxAgeMs: number;
  /** -1: unbounded. */
  maxBytes: number;
}

export function topologySettingsFrom(
  config: Pick<CommonConfig, 'NATS_STREAM_REPLICAS' | 'USAGE_MAX_AGE' | 'DEADLETTER_MAX_AGE' | 'STREAM_MAX_BYTES'>,
): TopologySettings {
  return {
    replicas: config.NATS_STREAM_REPLICAS,
    usageMaxAgeMs: config.USAGE_MAX_AGE,
    deadLetterMaxAgeMs: config.DEADLETTER_MAX_AGE,
    maxBytes: config.STREAM_MAX_BYTES,
  };
}

/** What a run did, one entry per item: "stream EVENTS", "consumer EVENTS/gateway-tenants", "kv ttm-slugs". */
export interface BootstrapReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

function maxAgeMs(def: StreamDefinition, settings: TopologySettings): number {
  switch (def.maxAgeSetting) {
    case 'usageMaxAge':
      return settings.usageMaxAgeMs;
    case 'deadLetterMaxAge':
      return settings.deadLetterMaxAgeMs;
    default:
      return 0;
  }
}

export function streamConfigFor(def: StreamDefinition, settings: TopologySettings): Partial<StreamConfig> {
  const maxAge = maxAgeMs(def, settings);
  // The server refuses a duplicate window longer than the max age, so a short
  // configured age (a test, a small deployment) shortens the window with it.
  const duplicateWindowMs =
    maxAge > 0 ? Math.min(def.duplicateWindowSeconds * 1_000, maxAge) : def.duplicateWindowSeconds * 1_000;
  return {
    name: def.name,
    description: def.description,
    subjects: [...def.subjects],
    retention: def.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: def.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
    num_replicas: settings.replicas,
    max_age: nanos(maxAge),
    max_bytes: settings.maxBytes,
    duplicate_window: nanos(duplicateWindowMs),
    deny_delete: def.denyDelete,
    deny_purge: def.denyPurge,
    allow_direct: true,
  };
}

/**
 * A durable pull consumer. Only `filter_subject` (never `filter_subjects`) and no
 * `metadata`: nats-server 2.9 refuses both.
 */
export function consumerConfigFor(def: ConsumerDefinition): Partial<ConsumerConfig> {
  return {
    durable_name: def.durable,
    description: def.description,
    filter_subject: def.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_deliver: def.maxDeliver,
    ack_wait: nanos(def.ackWaitSeconds * 1_000),
    max_ack_pending: def.maxAckPending,
  };
}

/** The stream behind a KV bucket or an object store, as the clients name it. */
const kvStreamName = (bucket: string) => `KV_${bucket}`;
const objectStoreStreamName = (bucket: string) => `OBJ_${bucket}`;

function bucketStreamConfig(def: BucketDefinition, settings: TopologySettings): Partial<StreamConfig> {
  return { description: def.description, max_msgs_per_subject: def.history, num_replicas: settings.replicas };
}

type Outcome = 'created' | 'updated' | 'unchanged';

/** One item of the topology, reduced to what reconciling it needs. */
interface Item<C extends object> {
  label: string;
  desired: C;
  /** Fields the server will not change on an existing item. */
  immutable: readonly (keyof C)[];
  read(): Promise<C | undefined>;
  create(): Promise<unknown>;
  update(changes: Partial<C>): Promise<unknown>;
  /** Refuse an existing item that cannot be ours (e.g. a push consumer under our durable name). */
  check?(current: C): void;
}

/**
 * Create the item if missing, update in place only the fields we set that differ
 * (the server fills in its defaults for the rest), and never duplicate it.
 */
async function reconcile<C extends object>(item: Item<C>, logger: Logger): Promise<Outcome> {
  let current = await item.read();
  if (current === undefined) {
    try {
      await item.create();
      logger.info({ item: item.label }, 'created');
      return 'created';
    } catch (error) {
      // Every service bootstraps at start, so another one may have created it since we looked.
      current = await item.read();
      if (current === undefined) throw failure('create', item.label, error);
    }
  }
  item.check?.(current);
  const changed = differingFields(item.desired, current);
  if (changed.length === 0) {
    logger.debug({ item: item.label }, 'unchanged');
    return 'unchanged';
  }
  const fixed = changed.filter((field) => item.immutable.includes(field));
  if (fixed.length > 0) {
    throw new Error(
      `cannot update ${item.label}: ${fixed.map(String).join(', ')} ${fixed.length === 1 ? 'differs' : 'differ'} from the definition in @ttm/contracts ` +
        'and cannot change in place; migrate it by hand (create a new one and move the data) or fix the definition',
    );
  }
  const changes: Partial<C> = {};
  for (const field of changed) changes[field] = item.desired[field];
  try {
    await item.update(changes);
  } catch (error) {
    throw failure('update', item.label, error);
  }
  logger.info({ item: item.label, changed: changed.map(String) }, 'updated');
  return 'updated';
}

/** The fields of `desired` whose value differs on the server; a field the server omits holds its zero value. */
function differingFields<C extends object>(desired: C, current: C): (keyof C)[] {
  return (Object.keys(desired) as (keyof C)[]).filter((field) => {
    const want = desired[field];
    if (want === undefined) return false;
    return !sameValue(want, current[field]);
  });
}

function sameValue(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) return JSON.stringify(want) === JSON.stringify(have ?? []);
  if (have === undefined || have === null) {
    return want === false || want === 0 || want === '';
  }
  return want === have;
}

function failure(action: string, label: string, error: unknown): Error {
  const reason = error instanceof Error ? error.message : String(error);
  return new Error(`could not ${action} ${label}: ${reason}`, { cause: error });
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

async function streamConfigOrUndefined(jsm: JetStreamManager, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (error) {
    if (isApiError(error, JetStreamApiCodes.StreamNotFound)) return undefined;
    throw failure('read', `stream ${name}`, error);
  }
}

function streamItem(
  jsm: JetStreamManager,
  def: StreamDefinition,
  settings: TopologySettings,
): Item<Partial<StreamConfig>> {
  const desired = streamConfigFor(def, settings);
  return {
    label: `stream ${def.name}`,
    desired,
    immutable: ['name', 'retention', 'storage'],
    read: () => streamConfigOrUndefined(jsm, def.name),
    create: () => jsm.streams.add({ ...desired, name: def.name }),
    update: (changes) => jsm.streams.update(def.name, changes),
    check(current) {
      // The server can turn these protections on, never off again.
      const stuck = (['deny_delete', 'deny_purge'] as const).filter((field) => current[field] && !desired[field]);
      if (stuck.length > 0) {
        throw new Error(
          `cannot update stream ${def.name}: ${stuck.join(', ')} is on and the server never turns it off; ` +
            'set it in the definition in @ttm/contracts, or recreate the stream by hand',
        );
      }
    },
  };
}

function consumerItem(jsm: JetStreamManager, def: ConsumerDefinition): Item<Partial<ConsumerConfig>> {
  const label = `consumer ${def.stream}/${def.durable}`;
  const desired = consumerConfigFor(def);
  return {
    label,
    desired,
    immutable: ['durable_name', 'ack_policy', 'deliver_policy'],
    async read() {
      try {
        return (await jsm.consumers.info(def.stream, def.durable)).config;
      } catch (error) {
        if (isApiError(error, JetStreamApiCodes.ConsumerNotFound)) return undefined;
        throw failure('read', label, error);
      }
    },
    create: () => jsm.consumers.add(def.stream, desired),
    update: (changes) => jsm.consumers.update(def.stream, def.durable, changes),
    check(current) {
      if (current.deliver_subject) {
        throw new Error(
          `${label} is a push consumer (deliver_subject ${current.deliver_subject}) but must be a pull consumer: ` +
            `delete it (nats consumer rm ${def.stream} ${def.durable}) and bootstrap again`,
        );
      }
    },
  };
}

function kvItem(
  nc: NatsConnection,
  jsm: JetStreamManager,
  def: BucketDefinition,
  settings: TopologySettings,
): Item<Partial<StreamConfig>> {
  const stream = kvStreamName(def.bucket);
  return {
    label: `kv ${def.bucket}`,
    desired: bucketStreamConfig(def, settings),
    immutable: [],
    read: () => streamConfigOrUndefined(jsm, stream),
    // Kvm lays the stream out the way every KV client expects (subjects, rollups, discard new).
    create: () =>
      new Kvm(nc).create(def.bucket, {
        description: def.description,
        history: def.history,
        replicas: settings.replicas,
      }),
    update: (changes) => jsm.streams.update(stream, changes),
  };
}

function objectStoreItem(
  nc: NatsConnection,
  jsm: JetStreamManager,
  def: { bucket: string; description: string },
  settings: TopologySettings,
): Item<Partial<StreamConfig>> {
  const stream = objectStoreStreamName(def.bucket);
  return {
    label: `object-store ${def.bucket}`,
    desired: { description: def.description, num_replicas: settings.replicas },
    immutable: [],
    read: () => streamConfigOrUndefined(jsm, stream),
    create: () => new Objm(nc).create(def.bucket, { description: def.description, replicas: settings.replicas }),
    update: (changes) => jsm.streams.update(stream, changes),
  };
}

/**
 * Make the server hold every stream, durable consumer, KV bucket and object store
 * of `@ttm/contracts`, as configured. Safe to run at every start, by every service
 * at once: a second run changes nothing.
 */
export async function bootstrapTopology(
  nc: NatsConnection,
  settings: TopologySettings,
  logger: Logger,
): Promise<BootstrapReport> {
  // A standalone 2.9 server stores a replica count it cannot honour: refuse rather than pretend.
  if (settings.replicas > 1 && !nc.info?.cluster) {
    throw new Error(
      `NATS_STREAM_REPLICAS is ${settings.replicas} but the NATS server is not clustered: ` +
        'set NATS_STREAM_REPLICAS=1 or point NATS_URL at a cluster',
    );
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (error) {
    throw failure('reach', 'JetStream', error);
  }
  const report: BootstrapReport = { created: [], updated: [], unchanged: [] };
  const run = async <C extends object>(item: Item<C>) => {
    report[await reconcile(item, logger)].push(item.label);
  };
  // In order, streams first: a consumer needs its stream.
  for (const def of streamDefinitions) await run(streamItem(jsm, def, settings));
  for (const def of consumerDefinitions) await run(consumerItem(jsm, def));
  for (const def of bucketDefinitions) await run(kvItem(nc, jsm, def, settings));
  for (const def of objectStoreDefinitions) await run(objectStoreItem(nc, jsm, def, settings));
  return report;
}
