import { STATUS_CODES } from 'node:http';
import { createRFC9457Error, type RFC9457Error } from '@fastify/error';

/**
 * Every kind of error the gateway answers with, as a stable RFC 9457 `type` URI.
 * Clients switch on `type`, never on `title` or `detail`: add a kind here, never rename one.
 */
const base = 'https://ttm.dev/problems';
export const problemTypes = {
  /** The request body, query, path parameters or headers do not match the route's schema. */
  validation: `${base}/validation`,
  /** The body could not be read as its Content-Type says (bad JSON, empty JSON, wrong length). */
  malformedBody: `${base}/malformed-body`,
  /** The request line itself is unusable (a URL that does not decode, a parameter too long). */
  badRequest: `${base}/bad-request`,
  notFound: `${base}/not-found`,
  payloadTooLarge: `${base}/payload-too-large`,
  unsupportedMediaType: `${base}/unsupported-media-type`,
  /** Something failed on our side; the detail never says what, the logs do (find them by request_id). */
  internal: `${base}/internal`,
} as const;
export type ProblemType = (typeof problemTypes)[keyof typeof problemTypes];

/** One offending input, in `errors` of a validation problem. */
export interface FieldProblem {
  /** Which part of the request: `body`, `querystring`, `params` or `headers`. */
  in: string;
  /** Dotted path of the field inside that part (`admin.email`); empty for the part as a whole. */
  name: string;
  /** JSON Pointer (RFC 6901) to the field inside that part, as a URI fragment (`#/admin/email`). */
  pointer: string;
  reason: string;
}

/** An `application/problem+json` body as the gateway sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  request_id: string;
  /** Stable machine code of a domain problem (`TTM_TENANT_NOT_FOUND`); absent for framework errors. */
  code?: string;
  errors?: FieldProblem[];
}

/** JSON Schema of a problem body, for routes to declare their error responses in the OpenAPI document. */
export const problemJsonSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'detail', 'instance', 'request_id'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    instance: { type: 'string' },
    request_id: { type: 'string' },
    code: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['in', 'name', 'pointer', 'reason'],
        properties: {
          in: { type: 'string' },
          name: { type: 'string' },
          pointer: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
  },
} as const;

export interface ProblemDefinition {
  /** Stable machine code, upper snake case, prefixed `TTM_`. */
  code: string;
  status: number;
  /** A URI naming this kind of problem; add it to `problemTypes` or a feature's own constants. */
  type: string;
  /** Short, the same for every occurrence. */
  title: string;
  /** The per-occurrence explanation, a `util.format` template filled by the constructor's arguments. */
  detail: string;
}

export type DomainProblem = RFC9457Error & { code: string; statusCode: number };
export type DomainProblemConstructor<Args extends unknown[]> = {
  new (...args: Args): DomainProblem;
  (...args: Args): DomainProblem;
};

/**
 * A domain error class built on @fastify/error. Throw it from a route and the client gets
 * a problem with this type, title and status, and the filled-in detail:
 *
 *   const TenantNotFound = createProblem<[tenantId: string]>({
 *     code: 'TTM_TENANT_NOT_FOUND', status: 404, type: 'https://ttm.dev/problems/tenant-not-found',
 *     title: 'Tenant not found', detail: 'No tenant has the id %s',
 *   });
 *   throw new TenantNotFound(id);
 */
export function createProblem<Args extends unknown[] = []>(
  definition: ProblemDefinition,
): DomainProblemConstructor<Args> {
  if (!STATUS_CODES[definition.status] || definition.status < 400) {
    throw new Error(`createProblem(${definition.code}): ${definition.status} is not an HTTP error status`);
  }
  return createRFC9457Error(definition.code, definition.detail, definition.status, {
    type: definition.type,
    title: definition.title,
  }) as unknown as DomainProblemConstructor<Args>;
}

/** True for errors made by `createProblem` (or any @fastify/error RFC 9457 error). */
export function isDomainProblem(error: unknown): error is DomainProblem {
  return (
    error instanceof Error &&
    typeof (error as Partial<RFC9457Error>).toProblemDetails === 'function' &&
    typeof (error as Partial<DomainProblem>).statusCode === 'number'
  );
}
