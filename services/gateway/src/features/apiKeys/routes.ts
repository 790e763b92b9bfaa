import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { zodSchema } from '../../schema.js';
import { principalOf } from '../tenantApi/context.js';
import { ApiKeyNotFound, ScopeEscalation } from '../tenantApi/problems.js';
import { auditTenantAction, IdParams, problem, tenantSecurity } from '../tenantApi/shared.js';
import { parseOr400 } from '../tenantApi/validation.js';
import { DEFAULT_API_KEY_SCOPES, TENANT_PERMISSIONS } from '../users/roles.js';
import type { ApiKeyRecord } from './apiKeys.js';

const CreateApiKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(100).describe('What the key is for, e.g. "zapier sync"'),
  expires_at: z.iso
    .datetime({ offset: true })
    .refine((value) => new Date(value).getTime() > Date.now(), 'must be in the future')
    .optional()
    .describe('When the key stops working (default: never; revoke it instead)'),
  scopes: z
    .array(z.enum(TENANT_PERMISSIONS))
    .min(1)
    .max(TENANT_PERMISSIONS.length)
    .optional()
    .describe(
      'What the key may do (default: records:read, records:write). Requests with it also need its creator to hold a role that allows them.',
    ),
});

const ApiKeyItem = z.object({
  id: z.uuid(),
  name: z.string(),
  status: z.enum(['active', 'revoked', 'expired']),
  created_by: z.uuid().describe('The user who created it; requests with the key act as them'),
  created_at: z.iso.datetime(),
  expires_at: z.iso.datetime().nullable(),
  revoked_at: z.iso.datetime().nullable(),
  scopes: z.array(z.string()),
});
type ApiKeyItem = z.output<typeof ApiKeyItem>;

const CreatedApiKey = ApiKeyItem.extend({
  key: z.string().describe('The key, shown this once: send it as `X-Api-Key: <key>` or `Authorization: Bearer <key>`'),
});

function itemOf(record: ApiKeyRecord, now = Date.now()): ApiKeyItem {
  const status =
    record.revokedAt !== null
      ? 'revoked'
      : record.expiresAt !== null && record.expiresAt.getTime() <= now
        ? 'expired'
        : 'active';
  return {
    id: record.id,
    name: record.name,
    status,
    created_by: record.createdBy,
    created_at: record.createdAt.toISOString(),
    expires_at: record.expiresAt?.toISOString() ?? null,
    revoked_at: record.revokedAt?.toISOString() ?? null,
    scopes: record.scopes,
  };
}

/** A key may only create keys with scopes it has itself: no key mints a stronger one. */
function refuseEscalation(request: FastifyRequest, scopes: readonly string[]): void {
  const principal = principalOf(request);
  if (principal.via !== 'api-key') return;
  const missing = scopes.filter((scope) => !(principal.scopes ?? []).includes(scope));
  if (missing.length > 0) throw new ScopeEscalation(missing.join(', '));
}

const manageKeys = { permission: 'api-keys:manage' } as const;

/** `POST|GET /api/tenant/api-keys`, `DELETE /api/tenant/api-keys/{id}`. */
export const apiKeyRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const keys = deps.apiKeys;

  app.post(
    '/api/tenant/api-keys',
    {
      config: manageKeys,
      schema: {
        summary: 'Create an API key',
        description:
          'Answers the key once (`key`); only its hash is kept. Needs an Admin (or a key with `api-keys:manage`, ' +
          'which can only give scopes it has).',
        tags: ['tenant'],
        security: tenantSecurity,
        body: zodSchema(z.object(CreateApiKeyBody.shape)),
        response: { 201: zodSchema(CreatedApiKey, { io: 'output' }), 400: problem, 401: problem, 403: problem },
      },
    },
    async (request, reply) => {
      const body = parseOr400(CreateApiKeyBody, request.body, 'body');
      const scopes = [...new Set(body.scopes ?? DEFAULT_API_KEY_SCOPES)];
      refuseEscalation(request, scopes);
      const expiresAt = body.expires_at === undefined ? null : new Date(body.expires_at);
      const principal = principalOf(request);
      const { record, key } = await keys.create({
        tenantId: principal.tenantId,
        name: body.name,
        createdBy: principal.userId,
        expiresAt,
        scopes,
      });
      await auditTenantAction(deps, request, 'api-key-created', { kind: 'api-key', id: record.id }, record.name);
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .header('location', `/api/tenant/api-keys/${record.id}`)
        .send({ ...itemOf(record), key });
    },
  );

  app.get(
    '/api/tenant/api-keys',
    {
      config: manageKeys,
      schema: {
        summary: "The organization's API keys",
        description: 'Every key, newest first, revoked and expired ones included; never the secret.',
        tags: ['tenant'],
        security: tenantSecurity,
        response: {
          200: zodSchema(z.object({ items: z.array(ApiKeyItem) }), { io: 'output' }),
          401: problem,
          403: problem,
        },
      },
    },
    async (request) => {
      const now = Date.now();
      return { items: (await keys.list(principalOf(request).tenantId)).map((r) => itemOf(r, now)) };
    },
  );

  app.delete<{ Params: IdParams }>(
    '/api/tenant/api-keys/:id',
    {
      config: manageKeys,
      schema: {
        summary: 'Revoke an API key',
        description:
          'Every gateway instance refuses the key within about a second. Revoking a revoked key answers 204 too.',
        tags: ['tenant'],
        security: tenantSecurity,
        params: zodSchema(IdParams),
        response: {
          204: { type: 'null', description: 'Revoked' },
          400: problem,
          401: problem,
          403: problem,
          404: problem,
        },
      },
    },
    async (request, reply) => {
      const outcome = await keys.revoke(principalOf(request).tenantId, request.params.id);
      if (outcome === 'not-found') throw new ApiKeyNotFound(request.params.id);
      if (outcome === 'revoked') {
        await auditTenantAction(deps, request, 'api-key-revoked', { kind: 'api-key', id: request.params.id });
      }
      return reply.code(204).send();
    },
  );
};
