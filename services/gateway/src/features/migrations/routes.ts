import { randomUUID } from 'node:crypto';
import { encodeMessage, MigrateTenant, type Placement, RegionName } from '@ttm/contracts';
import { databaseOf, publishMessage } from '@ttm/service-kit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { derivedUuid, parseIdempotencyKey } from '../../idempotency.js';
import { adminActorHeader, adminActorOf } from '../../plugins/adminAuth.js';
import { securitySchemes } from '../../plugins/openapi.js';
import { InvalidIdempotencyKey, problemJsonSchema, UnknownRegion } from '../../problems.js';
import { type JsonSchema, zodSchema } from '../../schema.js';
import { TenantNotFound, TenantStateConflict } from '../tenants/problems.js';
import { InvalidMigrationTarget, MigrationConflict } from './problems.js';

const SOURCE = '/ttm/gateway';
/** How long a migration this gateway accepted counts as running before the backup service records it. */
const PENDING_MS = 30_000;

const TenantParams = z.object({ id: z.uuid() });
type TenantParams = z.output<typeof TenantParams>;

export const MigrateBody = z
  .object({
    target_region: RegionName.optional().describe('Region to move to (default: the current one)'),
    target_cluster: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('Cluster of the target region (default: its first cluster that takes this kind of placement)'),
  })
  .describe('Where to move the tenant; at least one of the two must differ from where it is');
export type MigrateBody = z.output<typeof MigrateBody>;

export const AcceptedMigration = z.object({
  operation_id: z.uuid(),
  migration_id: z.uuid(),
  source: z.record(z.string(), z.unknown()),
  target: z.record(z.string(), z.unknown()),
});

const problem = (description: string): JsonSchema => ({ ...problemJsonSchema, description });

/** Where the tenant goes: the same kind of placement and schema name, on the target cluster. Throws 400s. */
export function targetOf(deps: GatewayDeps, source: Placement, body: MigrateBody): Placement {
  const regionName = body.target_region ?? source.region;
  const region = deps.catalog.region(regionName);
  if (!region) throw new UnknownRegion(regionName, deps.catalog.regions.map((r) => r.name).join(', '));
  const cluster = body.target_cluster
    ? region.clusters.find((c) => c.name === body.target_cluster)
    : (region.clusters.find((c) => c.name !== source.cluster && c.placements.includes(source.kind)) ??
      region.clusters[0]);
  if (!cluster) {
    throw new InvalidMigrationTarget(
      `cluster "${body.target_cluster}" is not one of region ${regionName}: ${region.clusters.map((c) => c.name).join(', ')}`,
    );
  }
  if (!cluster.placements.includes(source.kind)) {
    throw new InvalidMigrationTarget(`cluster ${cluster.name} does not take ${source.kind} placements`);
  }
  if (region.name === source.region && cluster.name === source.cluster) {
    throw new InvalidMigrationTarget(`the tenant is on ${region.name}/${cluster.name} already`);
  }
  const shared = databaseOf(cluster.url);
  const database = source.kind === 'database' ? `${shared}_ws_${source.schema.slice('workspace_'.length)}` : shared;
  return { region: region.name, cluster: cluster.name, kind: source.kind, database, schema: source.schema };
}

/**
 * `POST /api/admin/tenants/{id}/migrate`: registered in the admin scope (inside its `X-Admin-Key`
 * guard). Checks what the gateway knows (the directory, running migrations, write freezes),
 * sends `ttm.migration.start.v1` to the backup service and answers 202 with the operation.
 */
export const migrationRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const index = deps.migrations;
  /** Migrations this gateway accepted that the index does not show yet: tenant -> since. */
  const pending = new Map<string, number>();

  app.post<{ Params: TenantParams; Body: MigrateBody }>(
    '/api/admin/tenants/:id/migrate',
    {
      schema: {
        summary: 'Move a tenant to another region or cluster',
        description:
          'Runs as an operation of kind `migration` (poll `Location`): freeze the tenant writes (they get 503 with ' +
          'Retry-After; reads keep working), copy its workspace to the target, verify every table count and ' +
          'checksum, switch its placement, unfreeze, and remove the old copy after the grace period ' +
          '(MIGRATION_SOURCE_GRACE). A verification failure rolls back: the tenant stays where it was. Audited.',
        tags: ['admin'],
        security: [{ [securitySchemes.adminKey]: [] }],
        params: zodSchema(TenantParams),
        headers: zodSchema(
          z.object({
            'idempotency-key': z.string().optional().describe('Retrying with the same key names the same migration'),
            [adminActorHeader]: z.string().optional().describe('Who the operator is, recorded in the audit log'),
          }),
        ),
        body: zodSchema(MigrateBody),
        response: {
          202: {
            ...zodSchema(AcceptedMigration, { io: 'output' }),
            description: 'Accepted: poll the operation at `Location` (`/api/operations/{operation_id}`)',
          },
          400: problem('Unknown region or cluster, or the tenant is there already'),
          401: problem('X-Admin-Key is missing or wrong'),
          404: problem('No tenant has this id'),
          409: problem('The tenant is not provisioned, or a migration or in-place restore of it is running'),
        },
      },
    },
    async (request, reply) => {
      const tenantId = request.params.id;
      const audit = (outcome: 'success' | 'failure', detail: string | null, id = tenantId) =>
        deps.audit.record(
          {
            actor: adminActorOf(request),
            action: 'tenant-migration-requested',
            scope: tenantId,
            target: { kind: 'migration', id },
            outcome,
            detail,
          },
          request,
        );
      const entry = deps.directory.get(tenantId);
      if (!entry) throw new TenantNotFound(tenantId);
      if ((entry.status !== 'active' && entry.status !== 'suspended') || !entry.placement) {
        throw new TenantStateConflict(tenantId, entry.status, 'migrated', 'active or suspended');
      }
      const source = entry.placement;
      const target = targetOf(deps, source, request.body ?? {});
      await index.ready;
      const running = index.runningFor(tenantId);
      const since = pending.get(tenantId);
      if (running || (since !== undefined && Date.now() - since < PENDING_MS)) {
        await audit('failure', 'a migration of the tenant is running');
        throw new MigrationConflict(
          `tenant ${tenantId} is being migrated already${running ? ` (operation ${running.id})` : ''}`,
        );
      }
      const frozen = deps.freezes.check(tenantId);
      if (frozen) {
        await audit('failure', `the tenant is frozen by a ${frozen.reason}`);
        throw new MigrationConflict(`tenant ${tenantId} is frozen by a ${frozen.reason} (${frozen.operation_id})`);
      }
      const migrationId = migrationIdOf(request, tenantId);
      await publishMessage(
        deps.js,
        MigrateTenant.subject,
        encodeMessage(
          MigrateTenant,
          {
            migrationId,
            tenantId,
            source,
            target,
            actor: adminActorOf(request),
            requestedAt: new Date().toISOString(),
          },
          { source: SOURCE, subject: tenantId },
        ),
      );
      pending.set(tenantId, Date.now());
      const forget = index.watchOperation(migrationId, () => {
        pending.delete(tenantId);
        forget();
      });
      setTimeout(forget, PENDING_MS).unref();
      await audit('success', `${source.region}/${source.cluster} -> ${target.region}/${target.cluster}`, migrationId);
      return reply
        .code(202)
        .header('location', `/api/operations/${migrationId}`)
        .send({ operation_id: migrationId, migration_id: migrationId, source, target });
    },
  );
};

function migrationIdOf(request: FastifyRequest, tenantId: string): string {
  const key = parseIdempotencyKey(request.headers['idempotency-key']);
  if (key === null) throw new InvalidIdempotencyKey();
  return key === undefined ? randomUUID() : derivedUuid('migration-route', tenantId, key);
}
