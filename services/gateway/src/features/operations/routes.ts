import type { FastifyPluginAsync } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { problemJsonSchema } from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { streamOperation } from './eventStream.js';
import { type AnyOperation, provisioningOperation, provisioningState } from './operation.js';
import { OperationNotFound } from './problems.js';
import { OperationBody, OperationParams, ProvisioningStatusBody } from './schemas.js';

/**
 * How long a status route waits for an id it does not know yet before answering 404: the
 * registration answers 202 before the provisioner has recorded the tenant, and clients
 * poll (or open the event stream) at once.
 */
export const UNKNOWN_OPERATION_GRACE_MS = 2_000;

const params = zodSchema(OperationParams);
const notFound = { ...problemJsonSchema, description: 'No operation has this id' };
const badRequest = { ...problemJsonSchema, description: 'The id is not a uuid' };

/**
 * Long-running operations, one model for every kind: `GET /api/operations/{id}`, its live
 * updates as Server-Sent Events at `GET /api/operations/{id}/events`, and the seed's
 * `GET /api/auth/provisioning-status/{id}`. All answer from memory (the tenant directory and the
 * backup index):
 * they are polled.
 */
export const operationRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const { operations: tracker, backups, migrations } = deps;

  /** The operation, from the tenant directory or the backup index, waiting up to the grace for either. */
  async function lookUp(id: string, signal?: AbortSignal): Promise<AnyOperation | undefined> {
    const known = (await tracker.find(id)) ?? backups.operation(id) ?? migrations.get(id);
    if (known) return known;
    const settled = new AbortController();
    const stop = () => settled.abort();
    signal?.addEventListener('abort', stop, { once: true });
    const found = (operation: AnyOperation | undefined) => {
      if (!operation) throw new Error('not yet');
      return operation;
    };
    try {
      return await Promise.any([
        tracker.awaitOperation(id, UNKNOWN_OPERATION_GRACE_MS, settled.signal).then(found),
        backups.awaitOperation(id, UNKNOWN_OPERATION_GRACE_MS, settled.signal).then(found),
        migrations.awaitOperation(id, UNKNOWN_OPERATION_GRACE_MS, settled.signal).then(found),
      ]);
    } catch {
      return undefined;
    } finally {
      settled.abort();
      signal?.removeEventListener('abort', stop);
    }
  }

  /** Every change of an operation of either kind. */
  function watch(first: AnyOperation, send: (operation: AnyOperation) => void): () => void {
    if (first.kind === 'provisioning') {
      return tracker.watchOperation(first.id, (entry, event) =>
        send(provisioningOperation(entry, { startedAt: first.started_at, updatedAt: event.meta.time })),
      );
    }
    if (first.kind === 'migration') return migrations.watchOperation(first.id, send);
    return backups.watchOperation(first.id, send);
  }

  const openStreams = new Set<() => void>();
  // An open event stream would hold the server's close until the client leaves.
  app.addHook('preClose', async () => {
    for (const end of [...openStreams]) end();
  });

  app.get<{ Params: OperationParams }>(
    '/api/operations/:id',
    {
      schema: {
        summary: 'A long-running operation: a provisioning, backup, restore, verification or migration',
        tags: ['operations'],
        params,
        response: { 200: zodSchema(OperationBody, { io: 'output' }), 400: badRequest, 404: notFound },
      },
    },
    async (request) => {
      const operation = await lookUp(request.params.id);
      if (!operation) throw new OperationNotFound(request.params.id);
      return operation;
    },
  );

  app.get<{ Params: OperationParams }>(
    '/api/operations/:id/events',
    {
      schema: {
        summary: 'Live updates of an operation (Server-Sent Events)',
        description:
          'A `text/event-stream`: an `operation` event with the operation as JSON at once, then one per change, ' +
          'a comment line every 15 s to keep proxies from closing it, and the end of the stream after the ' +
          'operation succeeded or failed.',
        tags: ['operations'],
        params,
        response: {
          200: {
            description: 'event: operation / data: <the operation as JSON>',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          400: badRequest,
          404: notFound,
        },
      },
    },
    async (request, reply) => {
      const abandoned = new AbortController();
      const leave = () => abandoned.abort();
      reply.raw.once('close', leave);
      const first = await lookUp(request.params.id, abandoned.signal).finally(() => reply.raw.off('close', leave));
      if (!first) throw new OperationNotFound(request.params.id);
      streamOperation({ request, reply, watch: (send) => watch(first, send), first, openStreams });
      return reply;
    },
  );

  app.get<{ Params: OperationParams }>(
    '/api/auth/provisioning-status/:id',
    {
      schema: {
        summary: 'Where the provisioning of a registered organization stands',
        description:
          'Poll after registering (the `Location` of the 202), or follow `/api/operations/{id}/events` instead.',
        tags: ['operations'],
        params,
        response: { 200: zodSchema(ProvisioningStatusBody, { io: 'output' }), 400: badRequest, 404: notFound },
      },
    },
    async (request) => {
      const { id } = request.params;
      const entry =
        tracker.entryOf(id) ?? ((await tracker.awaitOperation(id, UNKNOWN_OPERATION_GRACE_MS)) && tracker.entryOf(id));
      if (!entry) throw new OperationNotFound(id);
      return provisioningState(entry);
    },
  );
};
