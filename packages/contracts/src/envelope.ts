import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { MessageDefinition } from './message.js';

/**
 * CloudEvents 1.0, NATS binary binding: attributes travel as `ce-*` headers, the
 * data is the JSON body. `ce-id` doubles as `Nats-Msg-Id`, so JetStream drops a
 * republished event inside the stream's duplicate window.
 */
export const CloudEventHeaders = {
  id: 'ce-id',
  type: 'ce-type',
  source: 'ce-source',
  specversion: 'ce-specversion',
  time: 'ce-time',
  subject: 'ce-subject',
  dataContentType: 'content-type',
  natsMsgId: 'Nats-Msg-Id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const;

export const SPEC_VERSION = '1.0';
export const JSON_CONTENT_TYPE = 'application/json';

export interface CloudEventMeta {
  id: string;
  type: string;
  source: string;
  specversion: string;
  time: string;
  subject?: string;
}

export interface EncodeOptions {
  /** `ce-source`, e.g. `/ttm/gateway`. */
  source: string;
  /** Deterministic ids make retries idempotent; default is a random uuid. */
  id?: string;
  time?: Date;
  /** `ce-subject`: the aggregate id the event is about. */
  subject?: string;
}

export interface EncodedMessage {
  headers: Record<string, string>;
  body: Uint8Array;
  meta: CloudEventMeta;
}

export interface DecodedMessage<T> {
  meta: CloudEventMeta;
  data: T;
}

/** A payload or envelope that breaks its contract. `fields` names each offending field. */
export class ContractViolation extends Error {
  readonly fields: { path: string; message: string }[];
  constructor(what: string, fields: { path: string; message: string }[]) {
    super(`${what}: ${fields.map((f) => `${f.path || '(root)'}: ${f.message}`).join('; ')}`);
    this.name = 'ContractViolation';
    this.fields = fields;
  }
}

export function issuesToFields(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Validate `data` against its definition and wrap it as a CloudEvent. Throws ContractViolation. */
export function encodeMessage<D extends MessageDefinition>(
  def: D,
  data: z.input<D['schema']>,
  options: EncodeOptions,
): EncodedMessage {
  const parsed = def.schema.safeParse(data);
  if (!parsed.success) throw new ContractViolation(`invalid ${def.type} payload`, issuesToFields(parsed.error));
  const meta: CloudEventMeta = {
    id: options.id ?? randomUUID(),
    type: def.type,
    source: options.source,
    specversion: SPEC_VERSION,
    time: (options.time ?? new Date()).toISOString(),
    ...(options.subject === undefined ? {} : { subject: options.subject }),
  };
  const headers: Record<string, string> = {
    [CloudEventHeaders.id]: meta.id,
    [CloudEventHeaders.type]: meta.type,
    [CloudEventHeaders.source]: meta.source,
    [CloudEventHeaders.specversion]: meta.specversion,
    [CloudEventHeaders.time]: meta.time,
    [CloudEventHeaders.dataContentType]: JSON_CONTENT_TYPE,
    [CloudEventHeaders.natsMsgId]: meta.id,
  };
  if (meta.subject !== undefined) headers[CloudEventHeaders.subject] = meta.subject;
  return { headers, body: encoder.encode(JSON.stringify(parsed.data)), meta };
}

/** Read the CloudEvent attributes from headers; throws ContractViolation naming each missing one. */
export function readMeta(headers: (name: string) => string | undefined): CloudEventMeta {
  const missing: { path: string; message: string }[] = [];
  const need = (name: string): string => {
    const value = headers(name);
    if (value === undefined || value === '') missing.push({ path: name, message: 'required header is missing' });
    return value ?? '';
  };
  const meta: CloudEventMeta = {
    id: need(CloudEventHeaders.id),
    type: need(CloudEventHeaders.type),
    source: need(CloudEventHeaders.source),
    specversion: need(CloudEventHeaders.specversion),
    time: need(CloudEventHeaders.time),
  };
  const subject = headers(CloudEventHeaders.subject);
  if (subject) meta.subject = subject;
  if (missing.length > 0) throw new ContractViolation('invalid CloudEvent envelope', missing);
  if (meta.specversion !== SPEC_VERSION) {
    throw new ContractViolation('invalid CloudEvent envelope', [
      { path: CloudEventHeaders.specversion, message: `expected ${SPEC_VERSION}, got ${meta.specversion}` },
    ]);
  }
  return meta;
}

/** Parse and validate a body against a definition; throws ContractViolation naming each bad field. */
export function decodeData<D extends MessageDefinition>(def: D, body: Uint8Array): z.output<D['schema']> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch (error) {
    throw new ContractViolation(`invalid ${def.type} payload`, [
      { path: '', message: `body is not JSON (${(error as Error).message})` },
    ]);
  }
  const parsed = def.schema.safeParse(json);
  if (!parsed.success) throw new ContractViolation(`invalid ${def.type} payload`, issuesToFields(parsed.error));
  return parsed.data as z.output<D['schema']>;
}
