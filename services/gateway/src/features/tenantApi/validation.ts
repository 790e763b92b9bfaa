import type { FastifySchemaValidationError } from 'fastify';
import type { z } from 'zod';

/**
 * Parse a request part with a zod schema; a failure is thrown as a fastify validation error, so
 * the client gets the same 400 `validation` problem (with `errors`) as a route schema gives.
 * Used where the route's JSON Schema cannot say it all: unknown fields are refused here rather
 * than silently dropped by the schema validator (`removeAdditional`).
 */
export function parseOr400<T extends z.ZodType>(
  schema: T,
  value: unknown,
  part: 'body' | 'querystring' | 'params',
): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const validation: FastifySchemaValidationError[] = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    if (unknownKeys.length > 0) {
      return {
        keyword: 'additionalProperties',
        instancePath: path.map((p) => `/${p}`).join(''),
        schemaPath: '#/additionalProperties',
        params: { additionalProperty: unknownKeys[0]! },
        message: `is not allowed (unknown field${unknownKeys.length > 1 ? `s ${unknownKeys.join(', ')}` : ''})`,
      };
    }
    return {
      keyword: issue.code,
      instancePath: path.map((p) => `/${p.replaceAll('~', '~0').replaceAll('/', '~1')}`).join(''),
      schemaPath: '#',
      params: {},
      message: issue.message,
    };
  });
  const error = new Error(`request ${part} is invalid`) as Error & {
    statusCode: number;
    validation: FastifySchemaValidationError[];
    validationContext: string;
  };
  error.statusCode = 400;
  error.validation = validation;
  error.validationContext = part;
  throw error;
}
