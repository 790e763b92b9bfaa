import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { type ProblemBody, sendProblem } from '../../plugins/problemDetails.js';
import { withHeaders } from '../../problemHeaders.js';
import {
  authProblemTypes,
  EmailNotVerified,
  InvalidCredentials,
  InvalidRefreshToken,
  problemJsonSchema,
  RefreshTokenReused,
  TenantArchivedProblem,
  TenantSuspendedProblem,
  TooManyLoginFailures,
} from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { startUnarchive } from '../backups/index.js';
import type { DirectoryEntry } from '../tenants/directory.js';
import { decoratePrincipal } from './guard.js';
import { checkCredentials, loginCandidates } from './login.js';
import { LoginLimiter } from './loginLimiter.js';
import { type LoginOutcome, loginAttempts } from './metrics.js';

export const jwksPath = '/.well-known/jwks.json';

const LoginBody = z.object({
  email: z.email().max(254).describe('Email of the organization admin'),
  password: z.string().min(1).max(1024),
  tenant: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe('Slug or tenant id: which organization, when the email administers several'),
});
type LoginBody = z.output<typeof LoginBody>;

const RefreshTokenBody = z.object({ refresh_token: z.string().min(1).max(512) });
type RefreshTokenBody = z.output<typeof RefreshTokenBody>;

const TokenResponse = z.object({
  access_token: z.string().describe('ES256 JWT; verify with the keys at /.well-known/jwks.json'),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int().describe('Seconds until the access token expires'),
  refresh_token: z.string().describe('Opaque; single use: each refresh returns the next one'),
  tenant_id: z.uuid(),
  user: z.object({ id: z.uuid(), email: z.string() }),
});
type TokenResponse = z.output<typeof TokenResponse>;

/** The sign-in of an archived organization: its tokens (usable once it is back) and the restore to follow. */
const RestoringResponse = TokenResponse.extend({
  status: z.literal('restoring').describe('The organization was archived; its restore has started'),
  operation_id: z
    .uuid()
    .describe('The restore: poll `GET /api/operations/{operation_id}` (the `Location`) with the token'),
  operation_url: z.string(),
});

const Jwks = z.object({
  keys: z.array(
    z.object({
      kty: z.string(),
      crv: z.string(),
      x: z.string(),
      y: z.string(),
      kid: z.string(),
      alg: z.string(),
      use: z.string(),
    }),
  ),
});

const problem = problemJsonSchema;

/**
 * Sign-in for organization admins: login, refresh, logout, the public keys of access tokens.
 */
export const authRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const { config } = deps;
  const { passwords, accessTokens, refreshTokens } = deps;
  const limiter = new LoginLimiter(deps.redis, config.REDIS_KEY_PREFIX, {
    maxFailuresPerAccount: config.LOGIN_MAX_FAILURES,
    maxHashesPerAddress: config.LOGIN_MAX_HASHES_PER_ADDRESS ?? config.LOGIN_MAX_FAILURES * 20,
    windowMs: config.LOGIN_FAILURE_WINDOW,
  });
  const attempts = loginAttempts(deps.metrics);
  const count = (outcome: LoginOutcome) => attempts.inc({ outcome });
  decoratePrincipal(app);

  // Sign-in never fails because AUDIT is full or away: entries are best effort (logged and counted when lost).
  const audit = (
    request: FastifyRequest,
    action: 'login' | 'refresh-reuse' | 'logout',
    email: string,
    tenantId: string | undefined,
    outcome: 'success' | 'failure',
    detail?: string,
  ) =>
    deps.audit.recordBestEffort(
      {
        actor: { kind: 'user', id: email.slice(0, 200) },
        action,
        scope: tenantId ?? 'system',
        ...(tenantId === undefined ? {} : { target: { kind: 'tenant', id: tenantId } }),
        outcome,
        detail: detail ?? null,
      },
      request,
    );
  // Refused logins: one AUDIT entry per account or address per LOGIN_AUDIT_WINDOW, then a count.
  const refused = (request: FastifyRequest, email: string, tenantId: string | undefined, reason: string) =>
    deps.refusedLogins.refused({ email, tenantId, address: request.ip, reason }, request);

  const tokensFor = async (
    subject: { userId: string; tenantId: string; email: string },
    refreshToken: string,
  ): Promise<TokenResponse> => {
    const access = await accessTokens.issue(subject);
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refreshToken,
      tenant_id: subject.tenantId,
      user: { id: subject.userId, email: subject.email },
    };
  };

  app.post<{ Body: LoginBody }>(
    '/api/auth/login',
    {
      schema: {
        summary: 'Log in as an organization admin',
        description:
          'Answers an access token (JWT) and a refresh token. Several failed logins for one email or from one ' +
          'address answer 429 with Retry-After. When the password opens several organizations and `tenant` is ' +
          'absent, 409 lists them in `tenants`. With EMAIL_VERIFICATION=required, an admin who has not verified its ' +
          'e-mail address gets 403 `email-not-verified`. An organization archived for lack of use answers 202: ' +
          'its tokens and the restore operation that brings it back (`Location`); its API answers 409 ' +
          '`tenant-archived` until the operation succeeded.',
        tags: ['auth'],
        body: zodSchema(LoginBody),
        response: {
          200: zodSchema(TokenResponse, { io: 'output' }),
          202: zodSchema(RestoringResponse, { io: 'output' }),
          400: problem,
          401: problem,
          403: problem,
          409: problem,
          429: problem,
        },
      },
    },
    async (request, reply) => {
      const email = request.body.email.trim().toLowerCase();
      const credentialDeps = {
        directory: deps.directory,
        clusterPools: deps.clusterPools,
        passwords,
        memberTenants: deps.memberTenants,
      };
      const candidates = await loginCandidates(credentialDeps, { email, tenant: request.body.tenant });
      // One attempt reserved on every account the password will be checked against (the email
      // alone when there is none), and one hash per check on the address, before any argon2 work.
      const accounts =
        candidates.length === 0
          ? [{ tenantId: undefined, email }]
          : candidates.map((t) => ({ tenantId: t.tenantId, email }));
      const wait = await limiter.reserve(accounts, request.ip, Math.max(1, candidates.length));
      if (wait !== undefined) {
        count('rate_limited');
        await refused(request, email, undefined, 'refused: too many failed logins');
        throw withHeaders(new TooManyLoginFailures(wait), { 'retry-after': String(wait) });
      }

      const verdict = await checkCredentials(
        credentialDeps,
        { email, password: request.body.password, tenant: request.body.tenant },
        candidates,
      );
      switch (verdict.kind) {
        case 'rejected':
          count('failure');
          await refused(request, email, verdict.tenantId, 'email or password is wrong');
          throw new InvalidCredentials();
        case 'tenant-choice-required': {
          await limiter.succeeded(verdict.tenants.map((t) => ({ tenantId: t.tenantId, email })));
          count('tenant_choice_required');
          await refused(request, email, undefined, 'several organizations; none chosen');
          return sendProblem(request, reply, tenantChoiceProblem(verdict.tenants));
        }
        case 'suspended':
          count('suspended');
          await refused(request, email, verdict.tenant.tenantId, 'organization suspended');
          throw new TenantSuspendedProblem(verdict.tenant.slug ?? verdict.tenant.tenantId);
        case 'archived':
        case 'authenticated': {
          await limiter.succeeded([{ tenantId: verdict.tenant.tenantId, email }]);
          // Told only to whoever knows the password: an email alone reveals nothing.
          if (
            deps.emailVerification.required &&
            (await deps.emailVerification.verifications.isUnverified(verdict.tenant.tenantId, verdict.user.email))
          ) {
            count('email_not_verified');
            await refused(request, email, verdict.tenant.tenantId, 'e-mail address not verified');
            throw new EmailNotVerified();
          }
          const subject = { userId: verdict.user.id, tenantId: verdict.tenant.tenantId, email: verdict.user.email };
          const body = await tokensFor(subject, await refreshTokens.issue(subject));
          count('success');
          await audit(request, 'login', email, subject.tenantId, 'success');
          if (verdict.kind === 'archived') {
            const restore = await startUnarchive(deps, verdict.tenant, { kind: 'user', id: verdict.user.email });
            const url = `/api/operations/${restore.operation_id}`;
            return reply
              .code(202)
              .header('cache-control', 'no-store')
              .header('location', url)
              .send({ ...body, status: 'restoring', operation_id: restore.operation_id, operation_url: url });
          }
          return reply.header('cache-control', 'no-store').send(body);
        }
      }
    },
  );

  app.post<{ Body: RefreshTokenBody }>(
    '/api/auth/refresh',
    {
      schema: {
        summary: 'Trade a refresh token for new tokens',
        description:
          'Each refresh token works once and returns its successor. Presenting one again revokes every token ' +
          'of its session (401 refresh-token-reused): someone else has a copy.',
        tags: ['auth'],
        body: zodSchema(RefreshTokenBody),
        response: { 200: zodSchema(TokenResponse, { io: 'output' }), 400: problem, 401: problem, 403: problem },
      },
    },
    async (request, reply) => {
      const outcome = await refreshTokens.rotate(request.body.refresh_token, (record) => {
        const tenant = deps.directory.get(record.tenantId);
        if (!tenant || (tenant.status !== 'active' && tenant.status !== 'suspended' && tenant.status !== 'archived')) {
          throw new InvalidRefreshToken();
        }
        if (tenant.status === 'suspended') throw new TenantSuspendedProblem(tenant.slug ?? tenant.tenantId);
        if (tenant.status === 'archived') throw new TenantArchivedProblem(tenant.slug ?? tenant.tenantId);
      });
      if (outcome.kind === 'invalid') throw new InvalidRefreshToken();
      if (outcome.kind === 'reused') {
        const { email, tenantId } = outcome.record;
        await audit(request, 'refresh-reuse', email, tenantId, 'failure', 'used refresh token presented again');
        throw new RefreshTokenReused();
      }
      const body = await tokensFor(outcome.record, outcome.token);
      return reply.header('cache-control', 'no-store').send(body);
    },
  );

  app.post<{ Body: RefreshTokenBody }>(
    '/api/auth/logout',
    {
      schema: {
        summary: 'End a session',
        description:
          'Revokes the refresh token and every token of its session. Access tokens already issued stay valid ' +
          'until they expire. Answers 204 for unknown tokens too.',
        tags: ['auth'],
        body: zodSchema(RefreshTokenBody),
        response: { 204: { type: 'null', description: 'Logged out' }, 400: problem },
      },
    },
    async (request, reply) => {
      const revoked = await refreshTokens.revokeFamilyOf(request.body.refresh_token);
      if (revoked) await audit(request, 'logout', revoked.email, revoked.tenantId, 'success');
      return reply.code(204).send();
    },
  );

  app.get(
    jwksPath,
    {
      schema: {
        summary: 'Public keys that verify access tokens (JWKS)',
        description: 'Every key still accepted, the signing one and recently rotated ones. Cache for up to 60 s.',
        tags: ['auth'],
        response: { 200: zodSchema(Jwks, { io: 'output' }) },
      },
    },
    async (_request, reply) => reply.header('cache-control', 'public, max-age=60').send(deps.keys.jwks()),
  );
  // `GET /api/tenant/me` lives in the tenant scope (features/tenantApi/routes.ts): it takes API keys too.
};

function tenantChoiceProblem(
  tenants: DirectoryEntry[],
): ProblemBody & { tenants: { slug: string; tenant_id: string }[] } {
  const choices = tenants.map((t) => ({ slug: t.slug ?? t.tenantId, tenant_id: t.tenantId }));
  return {
    type: authProblemTypes.tenantChoiceRequired,
    title: 'Choose an organization',
    status: 409,
    detail: `This login opens several organizations (${choices.map((c) => c.slug).join(', ')}); send "tenant" with one of these slugs`,
    code: 'TTM_TENANT_CHOICE_REQUIRED',
    tenants: choices,
  };
}
