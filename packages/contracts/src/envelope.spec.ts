import { describe, expect, it } from 'vitest';
import {
  CloudEventHeaders,
  ContractViolation,
  decodeData,
  type EncodedMessage,
  encodeMessage,
  readMeta,
  SPEC_VERSION,
} from './envelope.js';
import { messageDefinitions } from './registry.js';
import { sampleData, sampleFor } from './samples.js';
import { RegisterOrganization, SuspendTenant } from './tenant/commands.js';
import { ProvisioningStepCompleted, TenantRegistered } from './tenant/events.js';

const source = '/ttm/test';
const headerReader = (encoded: EncodedMessage) => (name: string) => encoded.headers[name];
const bytes = (text: string) => new TextEncoder().encode(text);

/** Run `fn`, expect a ContractViolation, and return it. */
function violation(fn: () => unknown): ContractViolation {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ContractViolation);
    return error as ContractViolation;
  }
  throw new Error('expected a ContractViolation, nothing was thrown');
}

describe('samples', () => {
  it('has a sample for every command and event definition', () => {
    const missing = messageDefinitions.map((d) => d.type).filter((type) => !(type in sampleData));
    expect(missing, 'add a sample to packages/contracts/src/samples.ts').toEqual([]);
  });

  it('has no sample for a type that is not defined', () => {
    const defined = new Set(messageDefinitions.map((d) => d.type));
    expect(Object.keys(sampleData).filter((type) => !defined.has(type))).toEqual([]);
  });

  it('hands out copies, so a test cannot spoil the shared sample', () => {
    const copy = sampleFor(RegisterOrganization);
    copy.adminEmail = 'changed@acme.example';
    expect(sampleFor(RegisterOrganization).adminEmail).toBe('admin@acme.example');
  });
});

describe('round trip: encodeMessage, then readMeta + decodeData', () => {
  it.each(messageDefinitions.map((def) => [def.type, def] as const))('%s', (_type, def) => {
    const data = sampleFor(def);
    const encoded = encodeMessage(def, data, { source, subject: 'subject-1' });

    const meta = readMeta(headerReader(encoded));
    expect(meta).toEqual(encoded.meta);
    expect(meta).toMatchObject({ type: def.type, source, specversion: SPEC_VERSION, subject: 'subject-1' });
    expect(decodeData(def, encoded.body)).toEqual(data);
  });

  it('omits ce-subject when no subject is given', () => {
    const encoded = encodeMessage(TenantRegistered, sampleFor(TenantRegistered), { source });
    expect(encoded.headers[CloudEventHeaders.subject]).toBeUndefined();
    expect(readMeta(headerReader(encoded)).subject).toBeUndefined();
  });

  it('writes the JSON content type and the CloudEvents time', () => {
    const time = new Date('2025-03-01T12:34:56.789Z');
    const encoded = encodeMessage(TenantRegistered, sampleFor(TenantRegistered), { source, time });
    expect(encoded.headers[CloudEventHeaders.dataContentType]).toBe('application/json');
    expect(encoded.headers[CloudEventHeaders.time]).toBe('2025-03-01T12:34:56.789Z');
  });
});

describe('ids', () => {
  it('ce-id equals Nats-Msg-Id, so JetStream deduplicates a republished event', () => {
    const encoded = encodeMessage(TenantRegistered, sampleFor(TenantRegistered), { source });
    expect(encoded.headers[CloudEventHeaders.id]).toBeTruthy();
    expect(encoded.headers[CloudEventHeaders.natsMsgId]).toBe(encoded.headers[CloudEventHeaders.id]);
    expect(encoded.meta.id).toBe(encoded.headers[CloudEventHeaders.id]);
  });

  it('honours a deterministic id: the same input encodes to the same message', () => {
    const options = { source, id: 'tenant-1:registered', time: new Date('2025-01-01T00:00:00Z') };
    const a = encodeMessage(TenantRegistered, sampleFor(TenantRegistered), options);
    const b = encodeMessage(TenantRegistered, sampleFor(TenantRegistered), options);
    expect(a.headers[CloudEventHeaders.id]).toBe('tenant-1:registered');
    expect(a.headers[CloudEventHeaders.natsMsgId]).toBe('tenant-1:registered');
    expect(b.headers).toEqual(a.headers);
    expect(b.body).toEqual(a.body);
  });

  it('generates a fresh uuid when no id is given', () => {
    const a = encodeMessage(TenantRegistered, sampleFor(TenantRegistered), { source });
    const b = encodeMessage(TenantRegistered, sampleFor(TenantRegistered), { source });
    expect(a.meta.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(b.meta.id).not.toBe(a.meta.id);
  });
});

describe('bad payloads are rejected with ContractViolation naming the field', () => {
  const cases: {
    name: string;
    def: (typeof messageDefinitions)[number];
    mutate: (d: Record<string, unknown>) => void;
    path: string;
  }[] = [
    {
      name: 'malformed e-mail',
      def: RegisterOrganization,
      mutate: (d) => {
        d.adminEmail = 'not-an-email';
      },
      path: 'adminEmail',
    },
    {
      name: 'missing tenantId',
      def: TenantRegistered,
      mutate: (d) => {
        delete d.tenantId;
      },
      path: 'tenantId',
    },
    {
      name: 'wrong type',
      def: ProvisioningStepCompleted,
      mutate: (d) => {
        d.progress = 'forty';
      },
      path: 'progress',
    },
    {
      name: 'nested field',
      def: SuspendTenant,
      mutate: (d) => {
        d.actor = { kind: 'robot', id: 'r2d2' };
      },
      path: 'actor.kind',
    },
  ];

  for (const { name, def, mutate, path } of cases) {
    it(`${name} (${def.type}): on encode and on decode`, () => {
      const data = sampleFor(def) as Record<string, unknown>;
      mutate(data);

      const onEncode = violation(() => encodeMessage(def, data, { source }));
      expect(onEncode.fields.map((f) => f.path)).toContain(path);
      expect(onEncode.message).toContain(path);
      expect(onEncode.message).toContain(def.type);

      const onDecode = violation(() => decodeData(def, bytes(JSON.stringify(data))));
      expect(onDecode.fields.map((f) => f.path)).toContain(path);
      expect(onDecode.message).toContain(path);
    });
  }

  it('names every bad field at once', () => {
    const data = { ...sampleFor(RegisterOrganization), adminEmail: 'nope', plan: 'Not A Plan' };
    const error = violation(() => encodeMessage(RegisterOrganization, data, { source }));
    expect(error.fields.map((f) => f.path).sort()).toEqual(['adminEmail', 'plan']);
  });

  it('rejects a body that is not JSON with a clear error', () => {
    const error = violation(() => decodeData(TenantRegistered, bytes('{"tenantId": ')));
    expect(error.message).toContain('not JSON');
    expect(error.message).toContain(TenantRegistered.type);
    expect(error.fields).toHaveLength(1);
  });

  it('rejects a JSON body that is not an object', () => {
    const error = violation(() => decodeData(TenantRegistered, bytes('"hello"')));
    expect(error.fields[0]?.path).toBe('');
  });
});

describe('bad envelopes', () => {
  const encoded = () => encodeMessage(TenantRegistered, sampleFor(TenantRegistered), { source });

  it('missing ce-type names ce-type', () => {
    const { headers } = encoded();
    delete headers[CloudEventHeaders.type];
    const error = violation(() => readMeta((name) => headers[name]));
    expect(error.fields).toEqual([{ path: 'ce-type', message: expect.any(String) }]);
    expect(error.message).toContain('ce-type');
  });

  it('names every missing attribute', () => {
    const error = violation(() => readMeta(() => undefined));
    expect(error.fields.map((f) => f.path)).toEqual(['ce-id', 'ce-type', 'ce-source', 'ce-specversion', 'ce-time']);
  });

  it('treats an empty header as missing', () => {
    const { headers } = encoded();
    headers[CloudEventHeaders.source] = '';
    expect(violation(() => readMeta((name) => headers[name])).fields[0]?.path).toBe('ce-source');
  });

  it('rejects another CloudEvents spec version', () => {
    const { headers } = encoded();
    headers[CloudEventHeaders.specversion] = '0.3';
    const error = violation(() => readMeta((name) => headers[name]));
    expect(error.fields[0]?.path).toBe('ce-specversion');
    expect(error.message).toContain('0.3');
  });
});
