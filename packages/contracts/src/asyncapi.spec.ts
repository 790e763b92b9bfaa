import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { externalMessageDefinitions } from './advisories.js';
import { ASYNCAPI_VERSION, exportAsyncApi, NATS_SERVER } from './asyncapi.js';
import { stableJson } from './docsExport.js';
import { exportJsonSchemas, schemaFileName } from './jsonSchema.js';
import { commandDefinitions, eventDefinitions, messageDefinitions } from './registry.js';
import { subjectCatalog, subjectPatternOf } from './subjectCatalog.js';
import { patternParameters } from './subjectMatch.js';
import { CommandSubjects, consumerDefinitions, SubjectFilters, Subjects } from './topology.js';

type Obj = Record<string, unknown>;
interface Ref {
  $ref: string;
}
interface Channel {
  address: string;
  description: string;
  parameters?: Record<string, { description: string; enum?: string[] }>;
  messages: Record<string, Ref>;
  'x-stream': string | null;
  'x-kind': string;
}
interface Operation {
  action: 'send' | 'receive';
  channel: Ref;
  messages: Ref[];
  'x-service': string;
  'x-consumer'?: { durable: string; stream: string };
}
interface Message {
  name: string;
  headers?: Obj;
  payload: Obj;
  examples?: { headers?: Obj; payload: unknown }[];
}

const doc = exportAsyncApi() as {
  asyncapi: string;
  info: { title: string; version: string };
  servers: Record<string, { host: string; protocol: string }>;
  channels: Record<string, Channel>;
  operations: Record<string, Operation>;
  components: { schemas: Record<string, Obj>; messages: Record<string, Message> };
};
const channels = Object.entries(doc.channels);
const operations = Object.values(doc.operations);
const addresses = channels.map(([, c]) => c.address);

/** Resolve a local JSON pointer in the document. */
function resolve(ref: string): unknown {
  expect(ref.startsWith('#/'), ref).toBe(true);
  return ref
    .slice(2)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, part) => (node as Obj | undefined)?.[part], doc);
}

/** Every `$ref` anywhere under a node. */
function refsIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(refsIn);
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [v] : refsIn(v)));
  }
  return [];
}

/** The official AsyncAPI 3.0.0 JSON Schema, when `@asyncapi/specs` is installed (it is optional). */
function officialSchema(): Obj | undefined {
  try {
    const path = createRequire(import.meta.url).resolve('@asyncapi/specs/schemas/3.0.0-without-$id.json');
    return JSON.parse(readFileSync(path, 'utf8')) as Obj;
  } catch {
    return undefined;
  }
}

const channelIdOf = (ref: Ref) => ref.$ref.split('/')[2]!;
const messageKeyOf = (ref: Ref) => ref.$ref.split('/').at(-1)!;

describe('AsyncAPI document', () => {
  it('is AsyncAPI 3.0.0 with info, a NATS server and JSON by default', () => {
    expect(doc.asyncapi).toBe(ASYNCAPI_VERSION);
    expect(ASYNCAPI_VERSION).toBe('3.0.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Object.values(doc.servers)).toContainEqual(expect.objectContaining(NATS_SERVER));
    expect(NATS_SERVER).toEqual({ host: '127.0.0.1:4222', protocol: 'nats' });
  });

  it('is deterministic', () => {
    expect(stableJson(exportAsyncApi())).toBe(stableJson(doc));
  });

  it('every $ref resolves inside the document', () => {
    const broken = refsIn(doc).filter((ref) => resolve(ref) === undefined);
    expect(broken).toEqual([]);
  });

  const official = officialSchema();
  it.skipIf(!official)('validates against the official AsyncAPI 3.0.0 JSON Schema (@asyncapi/specs)', () => {
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormats(ajv);
    const validate = ajv.compile(official!);
    expect(validate(JSON.parse(JSON.stringify(doc))), JSON.stringify(validate.errors?.slice(0, 5))).toBe(true);
  });

  it('uses component keys AsyncAPI allows', () => {
    for (const key of [...Object.keys(doc.components.schemas), ...Object.keys(doc.components.messages)]) {
      expect(key).toMatch(/^[a-zA-Z0-9.\-_]+$/);
    }
  });
});

describe('channels', () => {
  it('every subject constant appears as a channel address', () => {
    const expected = [
      ...Object.values(CommandSubjects),
      ...Object.values(SubjectFilters),
      Subjects.tenantEvents('{tenantId}'),
      Subjects.backupEvents('{backupId}'),
      Subjects.usage('{tenantId}', '{meter}'),
      Subjects.billing('{tenantId}', '{meter}'),
      Subjects.audit('{scope}', '{action}'),
      Subjects.deadLetter('{stream}', '{consumer}'),
      Subjects.maxDeliveriesAdvisory('{stream}', '{consumer}'),
    ];
    expect(addresses).toEqual(expect.arrayContaining(expected));
  });

  it('is exactly one channel per subject catalog entry', () => {
    expect(addresses.sort()).toEqual(subjectCatalog.map((e) => e.pattern).sort());
    for (const entry of subjectCatalog) expect(doc.channels[entry.id]?.address).toBe(entry.pattern);
  });

  it('declares every address parameter, and no other', () => {
    for (const [id, c] of channels) {
      expect(Object.keys(c.parameters ?? {}).sort(), id).toEqual(patternParameters(c.address).sort());
      for (const p of Object.values(c.parameters ?? {})) expect(p.description.length).toBeGreaterThan(0);
    }
  });

  it('names the stream each channel belongs to (none for core NATS subjects)', () => {
    for (const [id, c] of channels) {
      if (id.startsWith('CoreSubjects.')) {
        expect(c['x-stream'], id).toBeNull();
        expect(c.description, id).toContain('Stream: none (core NATS');
        continue;
      }
      expect(c['x-stream'], id).toEqual(expect.any(String));
      expect(c.description, id).toContain(`Stream: ${c['x-stream']}`);
    }
  });

  it('every channel carries at least one message', () => {
    for (const [id, c] of channels) expect(Object.keys(c.messages).length, id).toBeGreaterThan(0);
  });
});

describe('messages', () => {
  it('every command and event is carried by the channel it is published on, and by the filters over it', () => {
    for (const def of commandDefinitions) {
      const carriers = channels.filter(([, c]) => def.type in c.messages).map(([, c]) => c.address);
      expect(carriers, def.type).toContain(def.subject);
      expect(carriers).toContain(SubjectFilters.allCommands);
    }
    for (const def of eventDefinitions) {
      const carriers = channels.filter(([, c]) => def.type in c.messages).map(([, c]) => c.address);
      const pattern = subjectPatternOf(def);
      if (pattern === Subjects.event(def.aggregate, '{id}')) {
        expect(carriers, def.type).toContain(Subjects.event('{aggregate}', '{id}'));
        expect(carriers).toContain(SubjectFilters.allEvents);
      } else {
        expect(carriers, def.type).toContain(pattern); // published outside EVENTS (e.g. AUDIT)
      }
    }
  });

  it('every message type is referenced by some channel', () => {
    const referenced = new Set(channels.flatMap(([, c]) => Object.keys(c.messages)));
    for (const def of [...messageDefinitions, ...externalMessageDefinitions]) expect(referenced).toContain(def.type);
  });

  it('payloads are the exported JSON Schemas', () => {
    const exported = exportJsonSchemas();
    for (const def of [...messageDefinitions, ...externalMessageDefinitions]) {
      const message = doc.components.messages[def.type]!;
      expect(message.payload).toEqual({ $ref: `#/components/schemas/${def.type}` });
      const { $schema: _dialect, ...body } = exported[schemaFileName(def.type)]!;
      expect(doc.components.schemas[def.type]).toEqual(body);
    }
  });

  it('our messages carry the CloudEvents binary-binding headers', () => {
    const headers = doc.components.schemas['cloudevent-attributes'] as {
      properties: Obj;
      required: string[];
    };
    for (const name of ['ce-id', 'ce-type', 'ce-source', 'ce-specversion', 'ce-time', 'Nats-Msg-Id']) {
      expect(headers.required).toContain(name);
    }
    for (const name of ['ce-subject', 'traceparent', 'content-type']) expect(headers.properties).toHaveProperty(name);
    for (const def of messageDefinitions) {
      const message = doc.components.messages[def.type]!;
      expect(refsIn(message.headers)).toContain('#/components/schemas/cloudevent-attributes');
      expect(JSON.stringify(message.headers)).toContain(JSON.stringify({ const: def.type }));
    }
  });

  it('message examples validate against their header and payload schemas', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    const headers = ajv.compile(doc.components.schemas['cloudevent-attributes']!);
    for (const def of [...messageDefinitions, ...externalMessageDefinitions]) {
      const message = doc.components.messages[def.type]!;
      const payload = ajv.compile(doc.components.schemas[def.type]!);
      expect(message.examples?.length, def.type).toBeGreaterThan(0);
      for (const example of message.examples ?? []) {
        expect(payload(example.payload), `${def.type}: ${JSON.stringify(payload.errors)}`).toBe(true);
        if (def.kind !== 'external') {
          expect(headers(example.headers), `${def.type}: ${JSON.stringify(headers.errors)}`).toBe(true);
          expect(example.headers?.['ce-type']).toBe(def.type);
          expect(example.headers?.['ce-id']).toBe(example.headers?.['Nats-Msg-Id']);
        }
      }
    }
  });
});

describe('operations', () => {
  it('reference their channel and a subset of its messages', () => {
    for (const [id, op] of Object.entries(doc.operations)) {
      const channel = resolve(op.channel.$ref) as Channel | undefined;
      expect(channel, id).toBeDefined();
      expect(op.messages.length, id).toBeGreaterThan(0);
      for (const m of op.messages) {
        expect(m.$ref.startsWith(`${op.channel.$ref}/messages/`), `${id}: ${m.$ref}`).toBe(true);
        expect(resolve(m.$ref)).toBeDefined();
      }
    }
  });

  it('every consumer receives on the channel of its filter, in its stream', () => {
    for (const c of consumerDefinitions) {
      const op = operations.find((o) => o.action === 'receive' && o['x-consumer']?.durable === c.durable);
      expect(
        op,
        `${c.durable}: no receive operation (is its filter ${c.filterSubject} in the subject catalog?)`,
      ).toBeDefined();
      expect(op!['x-service']).toBe(c.owner);
      const channel = doc.channels[channelIdOf(op!.channel)]!;
      expect(channel.address).toBe(c.filterSubject);
      expect(channel['x-stream']).toBe(c.stream);
    }
  });

  it('each command is sent by who sends it: the gateway, the backup scheduler and the migration saga', () => {
    const senders = (def: (typeof commandDefinitions)[number]) =>
      operations
        .filter(
          (o) =>
            o.action === 'send' &&
            doc.channels[channelIdOf(o.channel)]!.address === def.subject &&
            o.messages.some((m) => messageKeyOf(m) === def.type),
        )
        .map((o) => o['x-service'])
        .sort();
    for (const def of commandDefinitions) {
      const expected =
        def.subject === CommandSubjects.tenantChangePlacement ||
        def.subject === CommandSubjects.tenantArchive ||
        def.subject === CommandSubjects.tenantUnarchive
          ? ['backup']
          : def.subject === CommandSubjects.backupCreate || def.subject === CommandSubjects.backupArchive
            ? ['backup', 'gateway']
            : ['gateway'];
      expect(senders(def), def.type).toEqual(expected);
    }
  });

  it('the provisioner sends the tenant events', () => {
    const tenantEvents = eventDefinitions.filter((d) => d.aggregate === 'tenant');
    expect(tenantEvents.length).toBeGreaterThan(0);
    const op = operations.find(
      (o) =>
        o.action === 'send' &&
        o['x-service'] === 'provisioner' &&
        doc.channels[channelIdOf(o.channel)]!.address === Subjects.tenantEvents('{tenantId}'),
    );
    expect(op).toBeDefined();
    expect(op!.messages.map(messageKeyOf).sort()).toEqual(tenantEvents.map((d) => d.type).sort());
  });

  it('every command and event has a sender and a receiver', () => {
    const sent = new Set(operations.filter((o) => o.action === 'send').flatMap((o) => o.messages.map(messageKeyOf)));
    const received = new Set(
      operations.filter((o) => o.action === 'receive').flatMap((o) => o.messages.map(messageKeyOf)),
    );
    const hint =
      'give its subject a Subjects builder with producers in subjectCatalog.ts (or an eventSubjectOverrides entry)';
    for (const def of messageDefinitions) {
      expect(sent, `${def.type} has no sender: ${hint}`).toContain(def.type);
      expect(received, `${def.type} has no receiver: add a consumer in topology.ts`).toContain(def.type);
    }
  });
});
