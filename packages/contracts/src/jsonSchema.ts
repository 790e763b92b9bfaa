/**
 * JSON Schema for every message payload, generated from the zod schemas, so a subscriber in any
 * language can validate what it reads. Dialect: draft-07, because it is AsyncAPI 3.0's default
 * schema format (the same objects are inlined in asyncapi.json), ajv's default `Ajv` class compiles
 * it in strict mode, and validators in most languages support it.
 *
 * Schemas describe the *input* side of the zod schemas (what a producer may write). Unknown
 * properties are allowed, as zod readers strip them: a new optional field is not a breaking change.
 */
import { z } from 'zod';
import { type ExternalMessageDefinition, externalMessageDefinitions } from './advisories.js';
import { CloudEventAttributes } from './cloudEventAttributes.js';
import type { MessageDefinition } from './message.js';
import { messageDefinitions } from './registry.js';
import { sampleCloudEventHeaders, sampleData, sampleExternalData } from './samples.js';

export type JsonSchema = { [key: string]: unknown };

export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';
export const SCHEMA_BASE_URL = 'https://ttm.dev/schemas/';
export const CLOUD_EVENT_ATTRIBUTES_FILE = 'cloudevent-attributes.json';

/** Formats ajv-formats (and most validators) know; zod's own (`starts_with`, …) are dropped, their `pattern` stays. */
const STANDARD_FORMATS = new Set([
  'date-time',
  'date',
  'time',
  'duration',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'uri',
  'uri-reference',
  'uuid',
]);

/** `ttm.tenant.registered.v1` -> `ttm.tenant.registered.v1.json`. */
export function schemaFileName(type: string): string {
  return `${type}.json`;
}

/** The `$id` of an exported schema file. */
export function schemaId(fileName: string): string {
  return `${SCHEMA_BASE_URL}${fileName}`;
}

function toDraft07(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, {
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'throw',
    override: ({ jsonSchema }) => {
      if (typeof jsonSchema.format === 'string' && !STANDARD_FORMATS.has(jsonSchema.format)) delete jsonSchema.format;
    },
  }) as JsonSchema;
}

function document(
  fileName: string,
  title: string,
  description: string,
  body: JsonSchema,
  example: unknown,
): JsonSchema {
  const { $schema: _dialect, description: _described, ...rest } = body;
  return {
    $schema: JSON_SCHEMA_DIALECT,
    $id: schemaId(fileName),
    title,
    description,
    ...rest,
    ...(example === undefined ? {} : { examples: [example] }),
  };
}

/** The JSON Schema of one command or event payload: `$id`, `title` = the ce-type, `description`. */
export function messageJsonSchema(def: MessageDefinition | ExternalMessageDefinition): JsonSchema {
  const kind = def.kind === 'external' ? `${def.publisher} message` : def.kind === 'command' ? 'Command' : 'Event';
  const example = def.kind === 'external' ? sampleExternalData[def.type] : sampleData[def.type];
  return document(schemaFileName(def.type), def.type, `${kind}: ${def.description}`, toDraft07(def.schema), example);
}

/** The JSON Schema of the CloudEvents attributes, i.e. the `ce-*` NATS headers of every ttm message. */
export function cloudEventAttributesJsonSchema(): JsonSchema {
  return document(
    CLOUD_EVENT_ATTRIBUTES_FILE,
    'CloudEvent attributes (NATS binary binding)',
    CloudEventAttributes.description ?? '',
    toDraft07(CloudEventAttributes),
    sampleCloudEventHeaders,
  );
}

/** Every exported schema, keyed by file name: one per command and event, the advisory, and the envelope. */
export function exportJsonSchemas(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const def of messageDefinitions) out[schemaFileName(def.type)] = messageJsonSchema(def);
  for (const def of externalMessageDefinitions) out[schemaFileName(def.type)] = messageJsonSchema(def);
  out[CLOUD_EVENT_ATTRIBUTES_FILE] = cloudEventAttributesJsonSchema();
  return out;
}
