import { randomUUID } from 'node:crypto';
import { UpgradeId, UpgradeList, UpgradeSpec, UpgradeTenantRows, UpgradeView } from '@ttm/contracts';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { derivedUuid, parseIdempotencyKey } from '../../idempotency.js';
import { adminActorHeader, adminActorOf } from '../../plugins/adminAuth.js';
import { securitySchemes } from '../../plugins/openapi.js';
import { InvalidIdempotencyKey, problemJsonSchema } from '../../problems.js';
import { type JsonSchema, zodSchema } from '../../schema.js';
import { askUpgrades, listUpgrades } from './client.js';
import { UpgradeBadRequest } from './problems.js';

const problem = (description: string): JsonSchema => ({ ...problemJsonSchema, description });

const UpgradeParams = z.object({ id: UpgradeId });
type UpgradeParams = z.output<typeof UpgradeParams>;
const UpgradeQuery = z.object({
  tenants: UpgradeTenantRows.default('all').describe(
    'Which per-tenant rows to include: all, unfinished (pending or running), failed, or none (counts only)',
  ),
});
type UpgradeQuery = z.output<typeof UpgradeQuery>;
const UpgradeListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('At most this many, newest first'),
});
type UpgradeListQuery = z.output<typeof UpgradeListQuery>;
export const UpgradeListPage = z.object({ items: UpgradeList });

export const AcceptedUpgrade = z.object({
  operation_id: UpgradeId.describe('Poll `/api/operations/{operation_id}` or `/api/admin/upgrades/{operation_id}`'),
  upgrade: UpgradeView,
});

const actions = ['pause', 'resume', 'cancel'] as const;

/**
 * Fleet schema upgrades, registered in the admin scope (inside its `X-Admin-Key` guard). The
 * provisioner plans and runs them and keeps their progress; every route asks it over
 * `query.provisioner.upgrades` and answers with what it says.
 */
export const upgradeRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const security = [{ [securitySchemes.adminKey]: [] }];
  const tags = ['admin'];
  const common = {
    401: problem('X-Admin-Key is missing or wrong'),
    503: problem('The provisioner did not answer: retry'),
  };
  const notFound = problem('No upgrade has this id');
  const audit = (request: FastifyRequest, action: string, id: string, outcome: 'success' | 'failure', detail: string) =>
    deps.audit.record(
      { actor: adminActorOf(request), action, scope: 'system', target: { kind: 'upgrade', id }, outcome, detail },
      request,
    );
  const actorOf = (request: FastifyRequest) => adminActorOf(request).id;

  app.post<{ Body: z.input<typeof UpgradeSpec> }>(
    '/api/admin/upgrades',
    {
      schema: {
        summary: 'Upgrade the workspace schemas of the fleet (or part of it) to a version, in waves',
        description:
          'Runs as an operation of kind `upgrade` (poll `Location`). Tenants are selected by the filters, put in a ' +
          'stable pseudo-random order and cut into waves at each cumulative percentage (a wave that rounds to none ' +
          'gets one tenant). Each tenant changes in one transaction (`lock_timeout` 2 s, retried) and stays at its ' +
          'version if that fails. After each wave the failure policy may pause the upgrade; resume accepts the ' +
          "wave's failures. At most `concurrencyPerCluster` (≤ 4) tenants change at once on one cluster, and at most " +
          '`maxTenantsPerSecond` start per second there (the pace that leaves CPU to the other tenants). Audited.',
        tags,
        security,
        headers: zodSchema(
          z.object({
            'idempotency-key': z.string().optional().describe('Retrying with the same key names the same upgrade'),
            [adminActorHeader]: z.string().optional().describe('Who the operator is, recorded in the audit log'),
          }),
        ),
        body: zodSchema(UpgradeSpec),
        response: {
          202: {
            ...zodSchema(AcceptedUpgrade, { io: 'output' }),
            description: 'Accepted: poll the operation at `Location`',
          },
          400: problem('The body is malformed (waves, filters, concurrency above 4, …)'),
          422: problem('This build cannot move workspaces to that schema version'),
          ...common,
        },
      },
    },
    async (request, reply) => {
      const key = parseIdempotencyKey(request.headers['idempotency-key']);
      if (key === null) throw new InvalidIdempotencyKey();
      const upgradeId = key === undefined ? randomUUID() : derivedUuid('upgrade-route', key);
      const parsed = UpgradeSpec.safeParse(request.body);
      if (!parsed.success) throw new UpgradeBadRequest(parsed.error.issues.map((i) => i.message).join('; '));
      const spec = parsed.data;
      try {
        const upgrade = await askUpgrades(deps.nc, { op: 'start', upgradeId, spec, actor: actorOf(request) });
        await audit(request, 'schema-upgrade-started', upgradeId, 'success', `to version ${spec.targetVersion}`);
        return reply
          .code(202)
          .header('location', `/api/operations/${upgrade.upgradeId}`)
          .send({ operation_id: upgrade.upgradeId, upgrade });
      } catch (error) {
        await audit(request, 'schema-upgrade-started', upgradeId, 'failure', (error as Error).message.slice(0, 1000));
        throw error;
      }
    },
  );

  app.get<{ Querystring: UpgradeListQuery }>(
    '/api/admin/upgrades',
    {
      schema: {
        summary: 'The most recent fleet upgrades (rollbacks included), newest first: counts, rate and ETA',
        description:
          'Counts only (`tenants` is empty in each): read one upgrade for its per-tenant rows. The dashboard lists these.',
        tags,
        security,
        querystring: zodSchema(UpgradeListQuery),
        response: {
          200: zodSchema(UpgradeListPage, { io: 'output' }),
          400: problem('The limit is not between 1 and 100'),
          ...common,
        },
      },
    },
    async (request) => ({ items: await listUpgrades(deps.nc, request.query.limit ?? 20) }),
  );

  app.get<{ Params: UpgradeParams; Querystring: UpgradeQuery }>(
    '/api/admin/upgrades/:id',
    {
      schema: {
        summary: 'Where a fleet upgrade stands: counts, rate, ETA and each tenant',
        tags,
        security,
        params: zodSchema(UpgradeParams),
        querystring: zodSchema(UpgradeQuery),
        response: {
          200: zodSchema(UpgradeView, { io: 'output' }),
          400: problem('The id is not a uuid'),
          404: notFound,
          ...common,
        },
      },
    },
    async (request) =>
      askUpgrades(deps.nc, { op: 'get', upgradeId: request.params.id, tenants: request.query.tenants ?? 'all' }),
  );

  for (const action of actions) {
    app.post<{ Params: UpgradeParams }>(
      `/api/admin/upgrades/:id/${action}`,
      {
        schema: {
          summary: {
            pause: 'Pause a fleet upgrade (tenants in flight finish; no new one starts)',
            resume:
              'Resume a paused upgrade (a wave the failure policy stopped is accepted with its failures; a soak in progress ends)',
            cancel: 'Cancel a fleet upgrade: tenants not started are skipped; the upgraded ones stay upgraded',
          }[action],
          tags,
          security,
          params: zodSchema(UpgradeParams),
          response: {
            200: zodSchema(UpgradeView, { io: 'output' }),
            404: notFound,
            409: problem(`The upgrade's status does not allow ${action} (e.g. resume of a cancelled upgrade)`),
            ...common,
          },
        },
      },
      async (request) => {
        const upgradeId = request.params.id;
        try {
          const upgrade = await askUpgrades(deps.nc, { op: action, upgradeId, actor: actorOf(request) });
          await audit(request, `schema-upgrade-${action}d`, upgradeId, 'success', upgrade.status);
          return upgrade;
        } catch (error) {
          await audit(
            request,
            `schema-upgrade-${action}d`,
            upgradeId,
            'failure',
            (error as Error).message.slice(0, 1000),
          );
          throw error;
        }
      },
    );
  }

  app.post<{ Params: UpgradeParams }>(
    '/api/admin/upgrades/:id/rollback',
    {
      schema: {
        summary: 'Roll back a paused, cancelled or completed upgrade with the same waves',
        description:
          'A new upgrade (its own operation) that moves every tenant the upgrade changed back to the version it came ' +
          'from, with the same waves, concurrency and failure policy. Audited.',
        tags,
        security,
        params: zodSchema(UpgradeParams),
        response: {
          202: { ...zodSchema(AcceptedUpgrade, { io: 'output' }), description: 'The rollback, accepted' },
          404: notFound,
          409: problem('The upgrade is running (pause or cancel it first), or changed no tenant'),
          ...common,
        },
      },
    },
    async (request, reply) => {
      const upgradeId = request.params.id;
      try {
        const upgrade = await askUpgrades(deps.nc, { op: 'rollback', upgradeId, actor: actorOf(request) });
        await audit(request, 'schema-rollback-started', upgrade.upgradeId, 'success', `rolls back ${upgradeId}`);
        return reply
          .code(202)
          .header('location', `/api/operations/${upgrade.upgradeId}`)
          .send({ operation_id: upgrade.upgradeId, upgrade });
      } catch (error) {
        await audit(request, 'schema-rollback-started', upgradeId, 'failure', (error as Error).message.slice(0, 1000));
        throw error;
      }
    },
  );
};
