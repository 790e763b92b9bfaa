import { inTransaction } from '@ttm/service-kit';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { withHeaders } from '../../problemHeaders.js';
import { InvalidVerificationToken, problemJsonSchema, TooManyVerificationResends } from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { RegistrationLimiter } from '../tenants/registrationLimiter.js';
import { verificationMail } from './mail.js';

export const verifyEmailPath = '/api/auth/verify-email';
export const resendVerificationPath = '/api/auth/resend-verification';
/** Registrations of one email a resend mails again, at most. */
const resendLimit = 10;

const VerifyBody = z.object({
  token: z.string().min(1).max(256).describe('The token of the verification link (its `token` parameter)'),
});
type VerifyBody = z.output<typeof VerifyBody>;
const Verified = z.object({ tenant_id: z.uuid(), email: z.string(), verified: z.literal(true) });

const ResendBody = z.object({
  email: z.email().max(254).describe('The admin email the organization was registered with'),
  tenant: z.string().min(1).max(64).optional().describe('Slug or tenant id, to resend for one organization only'),
});
type ResendBody = z.output<typeof ResendBody>;
const ResendAccepted = z.object({
  status: z.literal('accepted').describe('The same answer whether or not anything was pending for this email'),
});

/**
 * `POST /api/auth/verify-email` uses a verification token once; `POST /api/auth/resend-verification`
 * mails a new link to an admin still unverified (answering the same whether or not there is one, so
 * emails cannot be probed), limited per client address like registrations.
 */
export const emailVerificationRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const { emailVerification, config } = deps;
  const resends = new RegistrationLimiter(
    deps.redis,
    config.REDIS_KEY_PREFIX,
    {
      maxPerAddress: config.REGISTRATION_MAX_PER_ADDRESS,
      maxTotal: config.REGISTRATION_MAX_TOTAL,
      windowMs: config.REGISTRATION_WINDOW,
    },
    'verification-resends',
  );

  app.post<{ Body: VerifyBody }>(
    verifyEmailPath,
    {
      schema: {
        summary: "Verify an organization admin's e-mail address",
        description:
          'Uses the token of the verification link once (it expires after EMAIL_VERIFICATION_TTL). Afterwards the ' +
          'admin can log in.',
        tags: ['auth'],
        body: zodSchema(VerifyBody),
        response: { 200: zodSchema(Verified, { io: 'output' }), 400: problemJsonSchema },
      },
    },
    async (request, reply) => {
      const verified = await emailVerification.verifications.verify(request.body.token);
      if (!verified) throw new InvalidVerificationToken();
      await deps.audit.recordBestEffort(
        {
          actor: { kind: 'user', id: verified.email.slice(0, 200) },
          action: 'email-verified',
          scope: verified.tenantId,
          target: { kind: 'tenant', id: verified.tenantId },
          outcome: 'success',
          detail: null,
        },
        request,
      );
      return reply
        .header('cache-control', 'no-store')
        .send({ tenant_id: verified.tenantId, email: verified.email, verified: true });
    },
  );

  app.post<{ Body: ResendBody }>(
    resendVerificationPath,
    {
      schema: {
        summary: 'Mail a new verification link',
        description:
          'For an admin who has not verified its e-mail yet: a new link replaces the earlier one. Answers 202 ' +
          'whether or not anything was pending. Limited per client address (429 with Retry-After).',
        tags: ['auth'],
        body: zodSchema(ResendBody),
        response: { 202: zodSchema(ResendAccepted, { io: 'output' }), 400: problemJsonSchema, 429: problemJsonSchema },
      },
    },
    async (request, reply) => {
      const wait = await resends.reserve(request.ip);
      if (wait !== undefined) throw withHeaders(new TooManyVerificationResends(wait), { 'retry-after': String(wait) });
      const email = request.body.email.trim().toLowerCase();
      const chosen = request.body.tenant?.toLowerCase();
      const tenantIds =
        chosen === undefined
          ? undefined
          : deps.directory
              .byAdminEmail(email)
              .filter((t) => t.tenantId === chosen || t.slug === chosen)
              .map((t) => t.tenantId);
      const issued = await inTransaction(deps.pool, async (client) => {
        const tokens = await emailVerification.verifications.reissue(client, email, tenantIds, resendLimit);
        for (const { tenantId, token } of tokens) {
          const organization = deps.directory.get(tenantId)?.organizationName;
          await emailVerification.outbox.enqueue(
            client,
            'email-verification',
            verificationMail(config.EMAIL_VERIFICATION_URL, email, token, organization),
          );
        }
        return tokens.length;
      });
      if (issued > 0) emailVerification.dispatcher.wake();
      return reply.code(202).send({ status: 'accepted' });
    },
  );
};
