import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import {
  adminActorHeader,
  adminRouteSecurity as security,
  adminUnauthorizedSchema as unauthorized,
} from '../../plugins/adminAuth.js';
import { problemJsonSchema } from '../../problems.js';
import { type JsonSchema, zodSchema } from '../../schema.js';
import { TenantNotFound } from '../tenants/problems.js';
import { requestArchive, requestUnarchive } from './archive.js';
import { requestBackup, requestDeletion, requestRestore, requestVerification, showBackup } from './commands.js';
import {
  AcceptedOperation,
  BackupDetail,
  BackupItem,
  BackupList,
  BackupListQuery,
  BackupParams,
  RestoreBody,
  TenantParams,
} from './schemas.js';

/** How long a route waits for a backup id it does not know yet (just requested) before a 404. */
export const UNKNOWN_BACKUP_GRACE_MS = 2_000;

const problem = (description: string): JsonSchema => ({ ...problemJsonSchema, description });
const badRequest = problem('A parameter, the body or the Idempotency-Key is invalid');
const tags = ['backups'];
const postHeaders = zodSchema(
  z.object({
    'idempotency-key': z
      .string()
      .optional()
      .describe('Retrying with the same key names the same backup, restore or verification: it runs once'),
    [adminActorHeader]: z.string().optional().describe('Who the operator is, recorded in the audit log'),
  }),
);
const accepted = {
  ...zodSchema(AcceptedOperation, { io: 'output' }),
  description: 'Accepted: poll the operation at `Location` (`/api/operations/{operation_id}`)',
};

/**
 * Backups and restores under `/api/admin`. Registered in the admin scope, whose `X-Admin-Key`
 * guard (and its one audit budget for failures) covers these routes too. Thin: each route checks what
 * the gateway knows (the tenant directory, the backup index folded from `evt.backup.>`),
 * publishes a command for the backup service and answers 202 with the operation to poll.
 */
export const backupRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const index = deps.backups;

  app.post<{ Params: TenantParams }>(
    '/api/admin/tenants/:id/backups',
    {
      schema: {
        summary: 'Back up a tenant now: its workspace schema and its core rows, at one instant',
        description:
          'The backup is good once its operation succeeded (status `completed`); it is then verified and the ' +
          "plan's retention applied. Audited.",
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: postHeaders,
        response: {
          202: accepted,
          400: badRequest,
          401: unauthorized,
          404: problem('No tenant has this id'),
          409: problem('The tenant is not provisioned (pending, provisioning or failed)'),
        },
      },
    },
    async (request, reply) => {
      const result = await requestBackup(deps, request, request.params.id);
      return reply.code(202).header('location', `/api/operations/${result.operation_id}`).send(result);
    },
  );

  app.get<{ Params: TenantParams; Querystring: BackupListQuery }>(
    '/api/admin/tenants/:id/backups',
    {
      schema: {
        summary: "A tenant's backups, newest first",
        tags,
        security,
        params: zodSchema(TenantParams),
        querystring: zodSchema(BackupListQuery),
        response: {
          200: zodSchema(BackupList, { io: 'output' }),
          400: badRequest,
          401: unauthorized,
          404: problem('No tenant has this id'),
        },
      },
    },
    async (request) => {
      await index.ready;
      const items = index.ofTenant(request.params.id);
      if (items.length === 0 && !deps.directory.get(request.params.id)) throw new TenantNotFound(request.params.id);
      return { items: request.query.include_deleted ? items : items.filter((b) => b.status !== 'deleted') };
    },
  );

  app.get<{ Params: BackupParams }>(
    '/api/admin/backups/:backupId',
    {
      schema: {
        summary: 'One backup: status, manifest (tables, row counts, checksums), verifications and restores',
        tags,
        security,
        params: zodSchema(BackupParams),
        response: {
          200: zodSchema(BackupDetail, { io: 'output' }),
          400: badRequest,
          401: unauthorized,
          404: problem('No backup has this id'),
        },
      },
    },
    async (request) => showBackup(deps, index, request.params.backupId, UNKNOWN_BACKUP_GRACE_MS),
  );

  app.delete<{ Params: BackupParams }>(
    '/api/admin/backups/:backupId',
    {
      schema: {
        summary: 'Delete a backup and its artifact',
        description:
          'Idempotent: deleting a deleted backup answers 200. A running backup, or one being restored, is a 409. Audited.',
        tags,
        security,
        params: zodSchema(BackupParams),
        response: {
          200: { ...zodSchema(BackupItem, { io: 'output' }), description: 'Deleted already' },
          202: {
            ...zodSchema(BackupItem, { io: 'output' }),
            description: 'Accepted: the backup as it stands; poll it',
          },
          400: badRequest,
          401: unauthorized,
          404: problem('No backup has this id'),
          409: problem('The backup is running or being restored'),
        },
      },
    },
    async (request, reply) => {
      const { code, backup } = await requestDeletion(deps, index, request, request.params.backupId);
      if (code === 202) reply.header('location', `/api/admin/backups/${backup.id}`);
      return reply.code(code).send(backup);
    },
  );

  app.post<{ Params: BackupParams }>(
    '/api/admin/backups/:backupId/verify',
    {
      schema: {
        summary: 'Verify a backup: restore it into a scratch schema and compare counts and checksums with its manifest',
        tags,
        security,
        params: zodSchema(BackupParams),
        headers: postHeaders,
        response: {
          202: accepted,
          400: badRequest,
          401: unauthorized,
          404: problem('No backup has this id'),
          409: problem('The backup is not completed (running, failed or deleted)'),
        },
      },
    },
    async (request, reply) => {
      const result = await requestVerification(deps, index, request, request.params.backupId);
      return reply.code(202).header('location', `/api/operations/${result.operation_id}`).send(result);
    },
  );

  app.post<{ Params: TenantParams; Body: RestoreBody }>(
    '/api/admin/tenants/:id/restore',
    {
      schema: {
        summary: 'Restore a backup of the tenant, in place or into a new tenant (a clone)',
        description:
          '`in-place` replaces the tenant data with the backup in one transaction (the tenant writes should be ' +
          'refused meanwhile: watch `ttm.backup.restore-started.v1`). `clone` creates the workspace of a new ' +
          'tenant id (`target_tenant_id`, default the restore id) next to it, inactive. Audited.',
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: postHeaders,
        body: zodSchema(RestoreBody),
        response: {
          202: accepted,
          400: badRequest,
          401: unauthorized,
          404: problem('No tenant has this id, or the tenant has no backup with this id'),
          409: problem('The backup is not completed, the tenant cannot be restored, or the clone target exists'),
        },
      },
    },
    async (request, reply) => {
      const result = await requestRestore(deps, index, request, request.params.id, request.body);
      return reply.code(202).header('location', `/api/operations/${result.operation_id}`).send(result);
    },
  );

  app.post<{ Params: TenantParams }>(
    '/api/admin/tenants/:id/archive',
    {
      schema: {
        summary: 'Archive an active tenant: verified backup, workspace schema dropped, workspace INACTIVE',
        description:
          "The tenant's writes are refused (503) while its backup is taken and verified; then it is recorded " +
          '`archived`, its workspace schema is dropped and its Twenty workspace marked INACTIVE. Its API answers 409 ' +
          '`tenant-archived` until it is back: its next sign-in (202 with the restore operation) or ' +
          '`POST /api/admin/tenants/{id}/unarchive`. The operation is the archive backup (`operation_id` = ' +
          '`backup_id`); a failed backup or verification keeps the tenant live. Audited.',
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: postHeaders,
        response: {
          202: accepted,
          400: badRequest,
          401: unauthorized,
          404: problem('No tenant has this id'),
          409: problem('The tenant is not active (archived already, suspended, provisioning or failed)'),
        },
      },
    },
    async (request, reply) => {
      const result = await requestArchive(deps, request, request.params.id);
      return reply.code(202).header('location', `/api/operations/${result.operation_id}`).send(result);
    },
  );

  app.post<{ Params: TenantParams }>(
    '/api/admin/tenants/:id/unarchive',
    {
      schema: {
        summary: 'Bring an archived tenant back: an in-place restore of its archive backup',
        description:
          'The same operation as the one its next sign-in starts (one restore per archive, whoever asks first): ' +
          'the workspace schema is created again, the rows restored and checked, the workspace ACTIVE, and the ' +
          'tenant recorded active. Audited.',
        tags,
        security,
        params: zodSchema(TenantParams),
        headers: postHeaders,
        response: {
          202: accepted,
          400: badRequest,
          401: unauthorized,
          404: problem('No tenant has this id'),
          409: problem('The tenant is not archived'),
        },
      },
    },
    async (request, reply) => {
      const result = await requestUnarchive(deps, request, request.params.id);
      return reply.code(202).header('location', `/api/operations/${result.operation_id}`).send(result);
    },
  );
};
