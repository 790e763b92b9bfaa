import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { zodSchema } from '../../schema.js';
import { callerWorkspace } from '../tenantApi/context.js';
import { IdempotencyHeaders, idempotently } from '../tenantApi/idempotent.js';
import { InvalidReference, RecordNotFound, UnknownObject } from '../tenantApi/problems.js';
import { IdParams, problem, tenantSecurity } from '../tenantApi/shared.js';
import { parseOr400 } from '../tenantApi/validation.js';
import { InvalidCursor } from '../tenants/problems.js';
import {
  createBody,
  documentedBody,
  documentedListQuery,
  listQuery,
  OBJECT_NAMES,
  OBJECTS,
  type ObjectDef,
  recordOf,
  recordSchema,
  updateBody,
} from './objects.js';
import {
  createRecord,
  getRecord,
  listRecords,
  type RecordPosition,
  type RecordRow,
  softDeleteRecord,
  updateRecord,
} from './workspaceRecords.js';

const DEFAULT_PAGE = 50;

/** An opaque cursor: the last row's position, base64url JSON. Not secret: it only positions in the caller's own list. */
function encodeCursor(row: RecordRow): string {
  return Buffer.from(JSON.stringify([row._cursorAt, row.id])).toString('base64url');
}

const CursorShape = z.tuple([z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/), z.uuid()]);

function decodeCursor(cursor: string): RecordPosition {
  try {
    const [createdAt, id] = CursorShape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { createdAt, id };
  } catch {
    throw new InvalidCursor();
  }
}

/** Database refusals a client caused, as problems; anything else stays a 500. */
async function clientErrors<T>(def: ObjectDef, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '23503') {
      const constraint = (error as { constraint?: string }).constraint ?? '';
      const field = Object.keys(def.fields).find((f) => constraint.includes(f));
      throw new InvalidReference(
        `${field ?? 'a relation field'} names a record that does not exist in this organization`,
      );
    }
    throw error;
  }
}

/**
 * `/api/tenant/objects/{object}` for each standard object of the allow-list: list (keyset
 * pages, equality filters), get, create, PATCH, soft delete. One route per object, so each has
 * its own schemas in the OpenAPI document and the table name is never read from the URL.
 */
export const recordRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  for (const name of OBJECT_NAMES) {
    const def = OBJECTS[name];
    const base = `/api/tenant/objects/${name}`;
    const Record = recordSchema(def);
    const strictCreate = createBody(def);
    const strictUpdate = updateBody(def);
    const strictQuery = listQuery(def);
    const tags = ['tenant records'];
    const single = { 200: zodSchema(Record, { io: 'output' }), 400: problem, 401: problem, 403: problem, 404: problem };

    app.get(
      base,
      {
        schema: {
          summary: `List ${name} records`,
          description:
            `Live records (not deleted), oldest first, in pages of \`limit\`; \`next_cursor\` fetches the next ` +
            'page (null on the last). Filter with `?field=value` on the documented fields; an unknown parameter is refused.',
          tags,
          security: tenantSecurity,
          querystring: zodSchema(documentedListQuery(def)),
          response: {
            200: zodSchema(z.object({ items: z.array(Record), next_cursor: z.string().nullable() }), { io: 'output' }),
            400: problem,
            401: problem,
            403: problem,
          },
        },
      },
      async (request) => {
        const { limit = DEFAULT_PAGE, cursor, ...filters } = parseOr400(strictQuery, request.query, 'querystring');
        const after = cursor === undefined ? undefined : decodeCursor(cursor);
        const rows = await listRecords(callerWorkspace(deps, request), def, { filters, limit, after });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          items: page.map((row) => recordOf(def, row)),
          next_cursor: rows.length > limit && last ? encodeCursor(last) : null,
        };
      },
    );

    app.get<{ Params: IdParams }>(
      `${base}/:id`,
      {
        schema: {
          summary: `Get a ${name}`,
          tags,
          security: tenantSecurity,
          params: zodSchema(IdParams),
          response: single,
        },
      },
      async (request) => {
        const row = await getRecord(callerWorkspace(deps, request), def, request.params.id);
        if (!row) throw new RecordNotFound(def.label, request.params.id);
        return recordOf(def, row);
      },
    );

    app.post(
      base,
      {
        schema: {
          summary: `Create a ${name}`,
          description:
            'Fields left out take their default. Unknown fields are refused. Send an Idempotency-Key to retry safely.',
          tags,
          security: tenantSecurity,
          headers: zodSchema(IdempotencyHeaders),
          body: zodSchema(documentedBody(def)),
          response: { ...single, 201: zodSchema(Record, { io: 'output' }), 409: problem, 422: problem },
        },
      },
      async (request, reply) => {
        const body = parseOr400(strictCreate, request.body, 'body');
        const workspace = callerWorkspace(deps, request);
        return idempotently(deps, request, reply, `create-${name}`, async (seed) => {
          const row = await clientErrors(def, createRecord(workspace, def, body, seed?.('record')));
          if (!row) throw new Error(`the ${name} created for an Idempotency-Key is gone`);
          return { status: 201, headers: { location: `${base}/${row.id}` }, body: recordOf(def, row) };
        });
      },
    );

    app.patch<{ Params: IdParams }>(
      `${base}/:id`,
      {
        schema: {
          summary: `Change a ${name}`,
          description: 'Sets the fields sent (null clears a nullable one); the others keep their values.',
          tags,
          security: tenantSecurity,
          params: zodSchema(IdParams),
          body: zodSchema(documentedBody(def)),
          response: single,
        },
      },
      async (request) => {
        const body = parseOr400(strictUpdate, request.body, 'body');
        const row = await clientErrors(def, updateRecord(callerWorkspace(deps, request), def, request.params.id, body));
        if (!row) throw new RecordNotFound(def.label, request.params.id);
        return recordOf(def, row);
      },
    );

    app.delete<{ Params: IdParams }>(
      `${base}/:id`,
      {
        schema: {
          summary: `Delete a ${name}`,
          description: 'Soft delete, as Twenty does: the record gets a `deletedAt` and leaves lists and reads.',
          tags,
          security: tenantSecurity,
          params: zodSchema(IdParams),
          response: {
            204: { type: 'null', description: 'Deleted' },
            400: problem,
            401: problem,
            403: problem,
            404: problem,
          },
        },
      },
      async (request, reply) => {
        const deleted = await softDeleteRecord(callerWorkspace(deps, request), def, request.params.id);
        if (!deleted) throw new RecordNotFound(def.label, request.params.id);
        return reply.code(204).send();
      },
    );
  }

  // Any other object name: a problem naming the served ones, never a query.
  const unknownObject = async (request: { params: unknown }) => {
    const { object } = request.params as { object: string };
    throw new UnknownObject(String(object).slice(0, 64), OBJECT_NAMES.join(', '));
  };
  for (const url of ['/api/tenant/objects/:object', '/api/tenant/objects/:object/:id']) {
    app.route({ method: ['GET', 'POST', 'PATCH', 'DELETE'], url, schema: { hide: true }, handler: unknownObject });
  }
};
