import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { carriesAdminKey } from '../../plugins/adminAuth.js';
import { withHeaders } from '../../problemHeaders.js';
import { createProblem, problemJsonSchema } from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { askUpgrades, upgradeOperation } from '../upgrades/index.js';
import { streamOperation } from './eventStream.js';
import {
  type AnyOperation,
  acceptedProvisioningState,
  operationChanged,
  provisioningOperation,
  provisioningState,
} from './operation.js';
import { OperationNotFound } from './problems.js';
import { OperationBody, OperationParams, ProvisioningStatusBody } from './schemas.js';

/**
 * How long a status route waits for an id it does not know yet before answering 404: the
 * registration answers 202 before the provisioner has recorded the tenant, and clients
 * poll (or open the event stream) at once.
 */
export const UNKNOWN_OPERATION_GRACE_MS = 2_000;
/** How often an event stream of a fleet upgrade asks the provisioner where it stands. */
const UPGRADE_POLL_MS = 2_000;

const params = zodSchema(OperationParams);

const TooManyStreams = createProblem<[reason: string]>({
  code: 'TTM_TOO_MANY_STREAMS',
  status: 503,
  type: 'https://ttm.dev/problems/too-many-streams',
  title: 'Too many open event streams',
  detail: '%s; poll GET /api/operations/{id} instead, or retry later',
});

/** Who asks about an operation: an operator, a tenant (its access token), or someone holding only the id. */
type Viewer = { kind: 'admin' } | { kind: 'tenant'; tenantId: string } | { kind: 'anonymous' };
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
  const maxStreams = deps.config.OPERATION_STREAMS_MAX;
  const maxStreamsPerAddress = deps.config.OPERATION_STREAMS_PER_ADDRESS;
  const streamsByAddress = new Map<string, number>();

  async function viewerOf(request: FastifyRequest): Promise<Viewer> {
    if (carriesAdminKey(request, deps.config.SUPER_ADMIN_KEY)) return { kind: 'admin' };
    const authorization = request.headers.authorization;
    const bearer = authorization === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
    if (bearer !== undefined) {
      const claims = await deps.accessTokens.verify(bearer);
      return { kind: 'tenant', tenantId: claims.tenantId };
    }
    if (deps.adminSession && (await deps.adminSession(request))) return { kind: 'admin' };
    return { kind: 'anonymous' };
  }

  /**
   * What the viewer may see: operators everything; a tenant its own operations; someone holding
   * only the id (a registrant before its organization exists) a provisioning.
   */
  function shown(operation: AnyOperation, viewer: Viewer): AnyOperation | undefined {
    if (viewer.kind === 'admin') return operation;
    if (viewer.kind === 'tenant') return operation.tenant_id === viewer.tenantId ? operation : undefined;
    // The registrant's own provisioning, as the seed's provisioning-status route shows it too.
    return operation.kind === 'provisioning' ? operation : undefined;
  }

  /** A fleet upgrade, from the provisioner (which keeps them): undefined when it knows none or is away. */
  async function upgradeOf(id: string): Promise<AnyOperation | undefined> {
    try {
      return upgradeOperation(await askUpgrades(deps.nc, { op: 'get', upgradeId: id, tenants: 'all' }, 5_000));
    } catch {
      return undefined;
    }
  }

  /**
   * The operation, from the tenant directory or the backup or migration index, waiting up to the
   * grace for any; for operators also a fleet upgrade (asked of the provisioner, not waited for).
   */
  async function lookUp(id: string, viewer: Viewer, signal?: AbortSignal): Promise<AnyOperation | undefined> {
    const known =
      (await tracker.find(id)) ??
      backups.operation(id) ??
      migrations.get(id) ??
      (viewer.kind === 'admin' ? await upgradeOf(id) : undefined);
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
    if (first.kind === 'upgrade') {
      let last: AnyOperation = first;
      const timer = setInterval(() => {
        void upgradeOf(first.id).then((now) => {
          if (now && operationChanged(last, now)) send(now);
          if (now) last = now;
        });
      }, UPGRADE_POLL_MS);
      return () => clearInterval(timer);
    }
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
        summary: 'A long-running operation: a provisioning, backup, restore, verification, migration or fleet upgrade',
        description:
          'With X-Admin-Key (or the dashboard session): every operation. With a tenant access token: that ' +
          "tenant's operations. With neither: a provisioning only (its unguessable id is the registrant's). " +
          'Anything else answers 404.',
        tags: ['operations'],
        params,
        response: { 200: zodSchema(OperationBody, { io: 'output' }), 400: badRequest, 404: notFound },
      },
    },
    async (request) => {
      const viewer = await viewerOf(request);
      const found = await lookUp(request.params.id, viewer);
      const operation = found && shown(found, viewer);
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
          503: {
            ...problemJsonSchema,
            description: 'Too many event streams open (OPERATION_STREAMS_MAX, _PER_ADDRESS)',
          },
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
      const viewer = await viewerOf(request);
      const address = request.ip;
      const mine = streamsByAddress.get(address) ?? 0;
      if (openStreams.size >= maxStreams) {
        throw withHeaders(new TooManyStreams('this gateway has OPERATION_STREAMS_MAX streams open'), {
          'retry-after': '5',
        });
      }
      if (mine >= maxStreamsPerAddress) {
        throw withHeaders(new TooManyStreams('this address has OPERATION_STREAMS_PER_ADDRESS streams open'), {
          'retry-after': '5',
        });
      }
      const abandoned = new AbortController();
      const leave = () => abandoned.abort();
      reply.raw.once('close', leave);
      const found = await lookUp(request.params.id, viewer, abandoned.signal).finally(() =>
        reply.raw.off('close', leave),
      );
      const first = found && shown(found, viewer);
      if (!first) throw new OperationNotFound(request.params.id);
      streamsByAddress.set(address, (streamsByAddress.get(address) ?? 0) + 1);
      reply.raw.once('close', () => {
        const left = (streamsByAddress.get(address) ?? 1) - 1;
        if (left <= 0) streamsByAddress.delete(address);
        else streamsByAddress.set(address, left);
      });
      streamOperation({
        request,
        reply,
        watch: (send) =>
          watch(found, (operation) => {
            const visible = shown(operation, viewer);
            if (visible) send(visible);
          }),
        first,
        openStreams,
      });
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
      const known = tracker.entryOf(id);
      if (known) return provisioningState(known);
      // Accepted here, not taken up by the provisioner yet (a burst queues): pending, at once.
      const accepted = tracker.acceptedOnly(id);
      if (accepted) return acceptedProvisioningState(accepted);
      const entry = (await tracker.awaitOperation(id, UNKNOWN_OPERATION_GRACE_MS)) && tracker.entryOf(id);
      if (!entry) throw new OperationNotFound(id);
      return provisioningState(entry);
    },
  );
};
