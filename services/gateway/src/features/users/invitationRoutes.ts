import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { problemJsonSchema, WeakPassword } from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { PASSWORD_MAX_LENGTH, passwordWeaknesses } from '../auth/passwordPolicy.js';
import { workspaceOf } from '../dataPlane/workspace.js';
import { InvalidInvitation } from '../tenantApi/problems.js';
import { setMemberPassword } from './workspaceMembers.js';

export const acceptInvitationPath = '/api/auth/accept-invitation';

const AcceptBody = z.object({
  token: z.string().min(1).max(256).describe('The invitation token the inviting Admin was given'),
  password: z
    .string()
    .min(1)
    .max(PASSWORD_MAX_LENGTH * 4)
    .describe('The password to sign in with from now on'),
});
type AcceptBody = z.output<typeof AcceptBody>;

const Accepted = z.object({
  tenant_id: z.uuid(),
  slug: z.string().nullable(),
  user_id: z.uuid(),
  email: z.string().describe('Log in with this email and the new password'),
});

/**
 * `POST /api/auth/accept-invitation`: an invited user sets its password with the single-use
 * invitation token, then logs in at /api/auth/login like an admin; its role (Admin or Member)
 * is enforced on every tenant route.
 */
export const invitationRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  app.post<{ Body: AcceptBody }>(
    acceptInvitationPath,
    {
      schema: {
        summary: 'Accept an invitation: set your password',
        description:
          'Uses the invitation token once (it expires after INVITATION_TTL). The password follows the same policy as ' +
          'registration. Answers who you now are; then log in.',
        tags: ['auth'],
        body: zodSchema(AcceptBody),
        response: { 200: zodSchema(Accepted, { io: 'output' }), 400: problemJsonSchema },
      },
    },
    async (request, reply) => {
      const { token, password } = request.body;
      let weakness: string[] = [];
      const accepted = await deps.invitations.accept(token, async (invitation) => {
        weakness = passwordWeaknesses(password, invitation.email);
        if (weakness.length > 0) return false;
        const tenant = deps.directory.get(invitation.tenantId);
        if (!tenant?.placement || (tenant.status !== 'active' && tenant.status !== 'suspended')) return false;
        const hash = await deps.passwords.hash(password);
        return setMemberPassword(
          workspaceOf(deps.clusterPools, tenant.tenantId, tenant.placement),
          invitation.userId,
          hash,
        );
      });
      if (weakness.length > 0) throw new WeakPassword(weakness.join('; '));
      if (!accepted) throw new InvalidInvitation();
      await deps.audit.recordBestEffort(
        {
          actor: { kind: 'user', id: accepted.userId },
          action: 'invitation-accepted',
          scope: accepted.tenantId,
          target: { kind: 'user', id: accepted.userId },
          outcome: 'success',
          detail: null,
        },
        request,
      );
      return reply.header('cache-control', 'no-store').send({
        tenant_id: accepted.tenantId,
        slug: deps.directory.get(accepted.tenantId)?.slug ?? null,
        user_id: accepted.userId,
        email: accepted.email,
      });
    },
  );
};
