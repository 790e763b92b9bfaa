/**
 * The AsyncAPI 3.0.0 document of the whole system: one channel per subject catalog entry,
 * messages whose payloads are the exported JSON Schemas (inlined under components.schemas),
 * CloudEvents binary-binding headers, and which service sends or receives on each channel.
 * Pure: builds an object; `npm run contracts:export` writes it to docs/asyncapi.json.
 */
import { createHash } from 'node:crypto';
import { type ExternalMessageDefinition, externalMessageDefinitions } from './advisories.js';
import { encodeMessage } from './envelope.js';
import {
  CLOUD_EVENT_ATTRIBUTES_FILE,
  cloudEventAttributesJsonSchema,
  type JsonSchema,
  messageJsonSchema,
  schemaFileName,
  schemaId,
} from './jsonSchema.js';
import type { MessageDefinition } from './message.js';
import { messageDefinitions } from './registry.js';
import { sampleData, sampleExternalData } from './samples.js';
import { parameterDescriptions, type SubjectCatalogEntry, subjectCatalog, subjectPatternOf } from './subjectCatalog.js';
import { patternToFilter, subjectCovers } from './subjectMatch.js';
import { type ConsumerDefinition, consumerDefinitions, Streams, Subjects, streamDefinitions } from './topology.js';

export const ASYNCAPI_VERSION = '3.0.0';
/** Version of the described API (the contracts package). */
export const API_VERSION = '0.1.0';
export const NATS_SERVER = { host: '127.0.0.1:4222', protocol: 'nats' } as const;

/** Message keys of the placeholders for channels whose payload types contracts does not define yet. */
export const GENERIC_CLOUD_EVENT_MESSAGE = 'ttm.cloudevent';
export const DEAD_LETTER_MESSAGE = 'ttm.dead-letter';
const HEADERS_SCHEMA = 'cloudevent-attributes';
const decoder = new TextDecoder();
const EXAMPLE_TIME = new Date('2025-01-15T10:00:00.000Z');

type Json = { [key: string]: unknown };

interface CatalogMessage {
  key: string;
  pattern: string;
  message: Json;
  schema?: JsonSchema;
}

const pointer = (...parts: string[]) => `#/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
const ref = (...parts: string[]) => ({ $ref: pointer(...parts) });

/** A stable uuid-shaped id derived from a name, so the examples never change between exports. */
function exampleId(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The schema as embedded in the document: the dialect is the document's (AsyncAPI Schema, a draft-07 superset). */
function embedded(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

/** The channel a message is published on: the first non-wildcard entry with producers that covers its pattern. */
function publishingChannel(pattern: string): SubjectCatalogEntry | undefined {
  const filter = patternToFilter(pattern);
  return subjectCatalog.find(
    (e) => e.kind !== 'filter' && e.producers.length > 0 && subjectCovers(patternToFilter(e.pattern), filter),
  );
}

function definitionMessage(def: MessageDefinition): CatalogMessage {
  const pattern = subjectPatternOf(def);
  const channel = publishingChannel(pattern);
  const sample = sampleData[def.type];
  const tenantId = (sample as { tenantId?: unknown } | undefined)?.tenantId;
  const example =
    sample === undefined
      ? undefined
      : encodeMessage(def, sample, {
          source: `/ttm/${channel?.producers[0] ?? 'unknown'}`,
          id: exampleId(def.type),
          time: EXAMPLE_TIME,
          ...(typeof tenantId === 'string' ? { subject: tenantId } : {}),
        });
  return {
    key: def.type,
    pattern,
    schema: messageJsonSchema(def),
    message: {
      name: def.type,
      title: def.type,
      summary: def.description,
      description: `${def.kind === 'command' ? 'Command' : 'Event'} on \`${channel?.pattern ?? pattern}\`. CloudEvent in the NATS binary binding: attributes in \`ce-*\` headers (\`ce-type: ${def.type}\`), the payload is the JSON body.`,
      contentType: 'application/json',
      headers: {
        allOf: [
          ref('components', 'schemas', HEADERS_SCHEMA),
          { type: 'object', properties: { 'ce-type': { const: def.type } }, required: ['ce-type'] },
        ],
      },
      payload: ref('components', 'schemas', def.type),
      tags: [{ name: def.kind }],
      externalDocs: { description: 'Payload JSON Schema', url: schemaId(schemaFileName(def.type)) },
      ...(example === undefined
        ? {}
        : {
            examples: [{ name: 'sample', headers: example.headers, payload: JSON.parse(decoder.decode(example.body)) }],
          }),
    },
  };
}

function externalMessage(def: ExternalMessageDefinition): CatalogMessage {
  const sample = sampleExternalData[def.type];
  return {
    key: def.type,
    pattern: def.subjectPattern,
    schema: messageJsonSchema(def),
    message: {
      name: def.type,
      title: def.type,
      summary: def.description,
      description: `Published by ${def.publisher} on \`${def.subjectPattern}\`: plain JSON, no CloudEvents headers.`,
      contentType: 'application/json',
      payload: ref('components', 'schemas', def.type),
      tags: [{ name: 'advisory' }],
      externalDocs: { description: 'Payload JSON Schema', url: schemaId(schemaFileName(def.type)) },
      ...(sample === undefined ? {} : { examples: [{ name: 'sample', payload: sample }] }),
    },
  };
}

const deadLetterMessage: CatalogMessage = {
  key: DEAD_LETTER_MESSAGE,
  pattern: Subjects.deadLetter('{stream}', '{consumer}'),
  message: {
    name: DEAD_LETTER_MESSAGE,
    title: 'Dead-lettered message',
    summary: 'A poison message, copied here before its consumer terminated it',
    description:
      'The original headers and body, unchanged: usually a CloudEvent (validate with the schema its `ce-type` names), possibly the malformed message that made it poison. The subject names the stream and consumer that gave up.',
    headers: {
      type: 'object',
      description: 'The original message headers',
      additionalProperties: { type: 'string' },
    },
    payload: { description: 'The original message body, unchanged (it may not be valid JSON)' },
    tags: [{ name: 'dead-letter' }],
  },
};

const genericCloudEventMessage: Json = {
  name: GENERIC_CLOUD_EVENT_MESSAGE,
  title: 'CloudEvent (payload type not yet defined in contracts)',
  summary: 'A ttm CloudEvent whose payload schema is named by its ce-type',
  description:
    'No message type for this channel is defined in packages/contracts yet. Every message still carries the CloudEvents attributes; its `ce-type` names the payload JSON Schema once one exists.',
  contentType: 'application/json',
  headers: ref('components', 'schemas', HEADERS_SCHEMA),
  payload: { type: 'object', description: 'JSON body; schema named by ce-type' },
  tags: [{ name: 'cloudevent' }],
};

function catalogMessages(): CatalogMessage[] {
  return [
    ...messageDefinitions.map(definitionMessage),
    ...externalMessageDefinitions.map(externalMessage),
    deadLetterMessage,
  ];
}

/** Message keys carried on a channel: every message whose subject pattern the channel's subjects cover. */
function messagesOn(entry: SubjectCatalogEntry, messages: CatalogMessage[]): string[] {
  const filter = patternToFilter(entry.pattern);
  const keys = messages.filter((m) => subjectCovers(filter, patternToFilter(m.pattern))).map((m) => m.key);
  if (keys.length === 0 && entry.payload === 'cloudevent') keys.push(GENERIC_CLOUD_EVENT_MESSAGE);
  return keys;
}

function parameterObject(name: string): Json {
  const description = parameterDescriptions[name] ?? name;
  if (name === 'stream') return { description, enum: Object.values(Streams) };
  if (name === 'consumer') return { description, enum: consumerDefinitions.map((c) => c.durable) };
  return { description };
}

function channelDescription(entry: SubjectCatalogEntry): string {
  const stream = entry.stream
    ? `Stream: ${entry.stream}.`
    : entry.source === 'CoreSubjects'
      ? 'Stream: none (core NATS: delivered at most once, to whoever listens then; plain JSON, no CloudEvents headers).'
      : 'Stream: none (not captured by any stream).';
  const kind =
    entry.kind === 'filter'
      ? 'Wildcard filter: what a consumer subscribed to it receives.'
      : entry.kind === 'subject'
        ? 'Fixed subject.'
        : `Subject pattern, built with \`${entry.id}()\`.`;
  const producers =
    entry.producers.length > 0
      ? ` Published by: ${entry.producers.join(', ')}.`
      : entry.payload === 'advisory'
        ? ' Published by: nats-server.'
        : '';
  return `${entry.description}. ${kind} ${stream}${producers}`;
}

function consumerDescription(c: ConsumerDefinition): string {
  return [
    `Durable pull consumer \`${c.durable}\` on stream ${c.stream}, filter \`${c.filterSubject}\` (${c.kind}).`,
    `Max deliver ${c.maxDeliver}, ack wait ${c.ackWaitSeconds}s, max ack pending ${c.maxAckPending}.`,
    `A message that exhausts its deliveries is announced on \`${Subjects.maxDeliveriesAdvisory(c.stream, c.durable)}\` and dead-lettered to \`${Subjects.deadLetter(c.stream, c.durable)}\`.`,
  ].join(' ');
}

/** The catalog entry a consumer receives from: the one whose pattern is exactly its filter subject. */
export function channelForConsumer(c: ConsumerDefinition): SubjectCatalogEntry | undefined {
  return subjectCatalog.find((e) => e.pattern === c.filterSubject);
}

/** Build the AsyncAPI 3.0.0 document. Deterministic: same code, same document. */
export function exportAsyncApi(): Json {
  const messages = catalogMessages();
  const componentsMessages: Json = {};
  const componentsSchemas: Json = {
    [HEADERS_SCHEMA]: embedded(cloudEventAttributesJsonSchema()),
  };
  for (const m of messages) {
    componentsMessages[m.key] = m.message;
    if (m.schema) componentsSchemas[m.key] = embedded(m.schema);
  }

  const channels: Json = {};
  const channelMessages = new Map<string, string[]>();
  let usesGeneric = false;
  for (const entry of subjectCatalog) {
    const keys = messagesOn(entry, messages);
    if (keys.includes(GENERIC_CLOUD_EVENT_MESSAGE)) usesGeneric = true;
    channelMessages.set(entry.id, keys);
    channels[entry.id] = {
      address: entry.pattern,
      title: entry.id,
      description: channelDescription(entry),
      ...(entry.parameters.length > 0
        ? { parameters: Object.fromEntries(entry.parameters.map((p) => [p, parameterObject(p)])) }
        : {}),
      messages: Object.fromEntries(keys.map((k) => [k, ref('components', 'messages', k)])),
      'x-stream': entry.stream ?? null,
      'x-kind': entry.kind,
    };
  }
  if (usesGeneric) componentsMessages[GENERIC_CLOUD_EVENT_MESSAGE] = genericCloudEventMessage;

  const operationMessages = (channelId: string) =>
    (channelMessages.get(channelId) ?? []).map((k) => ref('channels', channelId, 'messages', k));

  const operations: Json = {};
  for (const entry of subjectCatalog) {
    for (const service of entry.producers) {
      operations[`send.${service}.${entry.id}`] = {
        action: 'send',
        channel: ref('channels', entry.id),
        title: `${service} publishes on ${entry.pattern}`,
        summary: entry.description,
        messages: operationMessages(entry.id),
        tags: [{ name: service }],
        'x-service': service,
      };
    }
  }
  for (const c of consumerDefinitions) {
    const entry = channelForConsumer(c);
    if (!entry) continue; // reported by the contracts tests
    operations[`receive.${c.durable}`] = {
      action: 'receive',
      channel: ref('channels', entry.id),
      title: `${c.owner} consumes ${c.durable}`,
      summary: c.description,
      description: consumerDescription(c),
      messages: operationMessages(entry.id),
      tags: [{ name: c.owner }],
      'x-service': c.owner,
      'x-consumer': {
        stream: c.stream,
        durable: c.durable,
        filterSubject: c.filterSubject,
        kind: c.kind,
        maxDeliver: c.maxDeliver,
        ackWaitSeconds: c.ackWaitSeconds,
        maxAckPending: c.maxAckPending,
      },
    };
  }

  return {
    asyncapi: ASYNCAPI_VERSION,
    info: {
      title: 'Twenty Tenant Manager',
      version: API_VERSION,
      description: [
        'Commands, domain events, usage, billing, audit and dead letters of the Twenty Tenant Manager control plane on NATS JetStream.',
        'Our messages are CloudEvents 1.0 in the NATS binary binding: the attributes travel as `ce-*` headers and the data is the JSON body.',
        '`ce-id` is also the `Nats-Msg-Id`, so JetStream drops a republished message inside the stream duplicate window.',
        `\`ce-type\` names the payload schema: \`${schemaId('<ce-type>.json')}\` (docs/schemas in the repository); the headers follow \`${schemaId(CLOUD_EVENT_ATTRIBUTES_FILE)}\`.`,
        'Types are versioned (`.v1`); a change that breaks readers is a new version and old versions stay readable.',
        'Generated from packages/contracts by `npm run contracts:export`; do not edit by hand.',
      ].join('\n\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        ...NATS_SERVER,
        description: 'nats-server with JetStream, as run on development machines (NATS_URL=nats://127.0.0.1:4222)',
      },
    },
    channels,
    operations,
    components: { schemas: componentsSchemas, messages: componentsMessages },
    'x-streams': streamDefinitions.map((s) => ({ ...s })),
  };
}
