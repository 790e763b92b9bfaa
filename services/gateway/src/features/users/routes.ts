import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { zodSchema } from '../../schema.js';
import { callerWorkspace, principalOf } from '../tenantApi/context.js';
import { IdempotencyHeaders, idempotently } from '../tenantApi/idempotent.js';
import { UserExists, UserNotFound, UserRemovalRefused } from '../tenantApi/problems.js';
import { auditTenantAction, IdParams, problem, tenantSecurity } from '../tenantApi/shared.js';
import { parseOr400 } from '../tenantApi/validation.js';
import { inviteMember, listMembers, type MemberRow, memberAwaitingPassword, removeMember } from './workspaceMembers.js';

const InviteShape = {
  email: z.email().max(254).describe('The new user; unique in the organization (case-insensitive)'),
  first_name: z.string().trim().max(100).optional(),
  last_name: z.string().trim().max(100).optional(),
  role: z.enum(['Admin', 'Member']).optional().describe('Default Member'),
};
const InviteBody = z.strictObject(InviteShape);

const User = z.object({
  id: z.uuid().describe('core."user".id'),
  email: z.string(),
  first_name: z.string(),
  last_name: z.string(),
  role: z.enum(['Admin', 'Member']).nullable(),
  workspace_member_id: z.uuid().nullable().describe('The workspaceMember record in the workspace schema'),
  created_at: z.iso.datetime(),
});
type User = z.output<typeof User>;

const InvitationShape = z.object({
  token: z
    .string()
    .describe(
      'Shown once: give it to the invited user, who sets a password with POST /api/auth/accept-invitation (single use)',
    ),
  expires_at: z.iso.datetime(),
});
const InvitedUser = User.extend({ invitation: InvitationShape });

const manageUsers = { permission: 'users:manage' } as const;

function userOf(row: MemberRow): User {
  return {
    id: row.id,
    email: row.email,
    first_name: row.firstName,
    last_name: row.lastName,
    role: row.role === 'Admin' || row.role === 'Member' ? row.role : null,
    workspace_member_id: row.workspaceMemberId,
    created_at: row.createdAt.toISOString(),
  };
}

/** `GET|POST /api/tenant/users`, `DELETE /api/tenant/users/{id}`: the Twenty workspace's users. */
export const userRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  app.get(
    '/api/tenant/users',
    {
      schema: {
        summary: "The organization's users",
        description: 'Users of the Twenty workspace (the count the `users` quota meters), oldest first.',
        tags: ['tenant'],
        security: tenantSecurity,
        response: { 200: zodSchema(z.object({ items: z.array(User) }), { io: 'output' }), 401: problem, 403: problem },
      },
    },
    async (request) => ({ items: (await listMembers(callerWorkspace(deps, request))).map(userOf) }),
  );

  app.post(
    '/api/tenant/users',
    {
      config: { quotaMeter: 'users', ...manageUsers },
      schema: {
        summary: 'Invite a user',
        description:
          'Creates the Twenty user, its link to the workspace, its role and its workspaceMember in one transaction, ' +
          'and answers a single-use invitation token (expiring after INVITATION_TTL): the user sets a password with it ' +
          '(POST /api/auth/accept-invitation), then logs in. Needs the Admin role (or a key with `users:manage`). ' +
          'Refused with 403 `user-quota-exceeded` while the organization is at its users quota.',
        tags: ['tenant'],
        security: tenantSecurity,
        headers: zodSchema(IdempotencyHeaders),
        body: zodSchema(z.object(InviteShape)),
        response: {
          201: zodSchema(InvitedUser, { io: 'output' }),
          400: problem,
          401: problem,
          403: problem,
          409: problem,
          422: problem,
          429: problem,
        },
      },
    },
    async (request, reply) => {
      const body = parseOr400(InviteBody, request.body, 'body');
      const email = body.email.trim().toLowerCase();
      const workspace = callerWorkspace(deps, request);
      return idempotently(deps, request, reply, 'invite-user', async () => {
        const outcome = await inviteMember(workspace, {
          email,
          firstName: body.first_name ?? '',
          lastName: body.last_name ?? '',
          role: body.role ?? 'Member',
        });
        if (outcome.kind === 'exists') throw new UserExists(email);
        const user = userOf(outcome.member);
        const invitation = await deps.invitations.issue({
          tenantId: workspace.workspaceId,
          userId: user.id,
          email,
          createdBy: principalOf(request).userId,
        });
        await auditTenantAction(
          deps,
          request,
          'user-invited',
          { kind: 'user', id: user.id },
          `${email} as ${user.role}`,
        );
        return {
          status: 201,
          headers: { location: `/api/tenant/users/${user.id}`, 'cache-control': 'no-store' },
          body: { ...user, invitation: { token: invitation.token, expires_at: invitation.expiresAt.toISOString() } },
        };
      });
    },
  );

  app.post<{ Params: IdParams }>(
    '/api/tenant/users/:id/invitation',
    {
      config: manageUsers,
      schema: {
        summary: 'Invite a user again',
        description:
          'A new invitation token for a user who has not set a password yet; earlier tokens of the user stop working.',
        tags: ['tenant'],
        security: tenantSecurity,
        params: zodSchema(IdParams),
        response: {
          201: zodSchema(InvitationShape, { io: 'output' }),
          400: problem,
          401: problem,
          403: problem,
          404: problem,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const workspace = callerWorkspace(deps, request);
      const email = await memberAwaitingPassword(workspace, id);
      if (email === undefined) throw new UserNotFound(id);
      const invitation = await deps.invitations.issue({
        tenantId: workspace.workspaceId,
        userId: id,
        email,
        createdBy: principalOf(request).userId,
      });
      await auditTenantAction(deps, request, 'user-reinvited', { kind: 'user', id });
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ token: invitation.token, expires_at: invitation.expiresAt.toISOString() });
    },
  );

  app.delete<{ Params: IdParams }>(
    '/api/tenant/users/:id',
    {
      config: manageUsers,
      schema: {
        summary: 'Remove a user',
        description:
          'Soft-deletes the user, its workspace link and its workspaceMember (as Twenty does), drops its roles, ' +
          'revokes the API keys it created, its sessions (refresh tokens) and its invitations. Access tokens it ' +
          'already holds lose every Admin right at once and expire within ACCESS_TOKEN_TTL. You cannot remove ' +
          'yourself, nor the last Admin. Needs the Admin role (or a key with `users:manage`).',
        tags: ['tenant'],
        security: tenantSecurity,
        params: zodSchema(IdParams),
        response: {
          204: { type: 'null', description: 'Removed' },
          400: problem,
          401: problem,
          403: problem,
          404: problem,
          409: problem,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (principalOf(request).userId === id) throw new UserRemovalRefused('you cannot remove yourself');
      const outcome = await removeMember(callerWorkspace(deps, request), id);
      if (outcome === 'not-found') throw new UserNotFound(id);
      if (outcome === 'last-admin') throw new UserRemovalRefused('this is the last Admin of the organization');
      // Keys act as the user who created them: they leave with the user, as do its sessions.
      const tenantId = principalOf(request).tenantId;
      const revoked = await deps.apiKeys.revokeCreatedBy(tenantId, id);
      await deps.refreshTokens.revokeUser(tenantId, id);
      await deps.invitations.revokeForUser(tenantId, id);
      await auditTenantAction(
        deps,
        request,
        'user-removed',
        { kind: 'user', id },
        revoked.length > 0 ? `its API keys revoked: ${revoked.join(', ')}`.slice(0, 1000) : undefined,
      );
      return reply.code(204).send();
    },
  );
};
