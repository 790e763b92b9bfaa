import { Ajv2020, type Options } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyServerOptions } from 'fastify';
import { z } from 'zod';

/**
 * The gateway speaks one JSON Schema dialect end to end: draft 2020-12, the dialect of
 * OpenAPI 3.1 and the default output of `z.toJSONSchema`. Fastify's built-in ajv only
 * knows draft-07 (it rejects a 2020-12 `$schema` and ignores `prefixItems`), so routes are
 * validated by an Ajv2020 instance configured like fastify's own.
 */
export type JsonSchema = Record<string, unknown>;

export interface ZodSchemaOptions {
  /** `input` (default) for what a client sends: defaults make fields optional. `output` for responses. */
  io?: 'input' | 'output';
}

/**
 * A route schema (body, querystring, params, headers or a response) from a zod schema.
 * Schemas named with `.meta({ id })` are inlined: a `#/$defs/…` reference would dangle once
 * the schema is embedded in the OpenAPI document. Recursive schemas are refused at start-up.
 */
export function zodSchema(schema: z.ZodType, options: ZodSchemaOptions = {}): JsonSchema {
  const generated = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: options.io ?? 'input',
    cycles: 'throw',
  }) as JsonSchema;
  const { $schema: _dialect, $defs, ...root } = generated;
  return inlineDefinitions(root, ($defs ?? {}) as Record<string, JsonSchema>) as JsonSchema;
}

function inlineDefinitions(node: unknown, defs: Record<string, JsonSchema>, seen: string[] = []): unknown {
  if (Array.isArray(node)) return node.map((item) => inlineDefinitions(item, defs, seen));
  if (node === null || typeof node !== 'object') return node;
  const { $ref, ...rest } = node as JsonSchema;
  const siblings = Object.fromEntries(
    Object.entries(rest).map(([key, value]) => [key, inlineDefinitions(value, defs, seen)]),
  );
  if (typeof $ref !== 'string') return $ref === undefined ? siblings : { $ref, ...siblings };
  const name = $ref.startsWith('#/$defs/') ? decodeURIComponent($ref.slice('#/$defs/'.length)) : undefined;
  const definition = name === undefined ? undefined : defs[name];
  if (name === undefined || definition === undefined) return { $ref, ...siblings };
  if (seen.includes(name))
    throw new Error(`zodSchema: schema "${name}" refers to itself; recursive schemas are not supported`);
  return { ...(inlineDefinitions(definition, defs, [...seen, name]) as JsonSchema), ...siblings };
}

type ValidatorFactory = NonNullable<
  NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']
>;

/** Fastify's defaults (see @fastify/ajv-compiler); `allErrors: false` because all errors is a DoS vector. */
const fastifyAjvDefaults = {
  coerceTypes: 'array',
  useDefaults: true,
  removeAdditional: true,
  addUsedSchema: false,
  allErrors: false,
} as const;

/**
 * `schemaController.compilersFactory.buildValidator` for JSON Schema 2020-12. Query strings,
 * path parameters and headers arrive as text, so they are coerced (`?limit=10` is a number);
 * a JSON body already has types, so it is not: `{"name": 42}` is refused, not read as "42".
 */
export const buildJsonSchema2020Validator: ValidatorFactory = (externalSchemas, options) => {
  const textParts = createAjv(externalSchemas, { ...fastifyAjvDefaults, ...options?.customOptions });
  const body = createAjv(externalSchemas, { ...fastifyAjvDefaults, coerceTypes: false, ...options?.customOptions });
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? body : textParts;
    const id = typeof schema === 'object' && schema !== null && '$id' in schema ? schema.$id : undefined;
    const known = typeof id === 'string' ? ajv.getSchema(id) : undefined;
    return known ?? ajv.compile(schema);
  };
};

function createAjv(externalSchemas: Parameters<ValidatorFactory>[0], ajvOptions: Options): Ajv2020 {
  const ajv = new Ajv2020(ajvOptions);
  addFormats(ajv);
  for (const shared of Object.values(externalSchemas)) ajv.addSchema(shared);
  return ajv;
}
