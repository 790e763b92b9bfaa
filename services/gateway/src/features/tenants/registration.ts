import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { ContractViolation, Email, encodeMessage, RegisterOrganization } from '@ttm/contracts';
import { type Catalog, inTransaction, publishMessage, sealSecret, sharedCounter } from '@ttm/service-kit';
import type { FastifyPluginAsync, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { derivedUuid, fingerprintOf, parseIdempotencyKey, type StoredResponse } from '../../idempotency.js';
import { withHeaders } from '../../problemHeaders.js';
import {
  IdempotencyKeyInFlight,
  IdempotencyKeyReused,
  InvalidIdempotencyKey,
  isDomainProblem,
  PasswordHashingBusy,
  problemJsonSchema,
  TooManyRegistrations,
  UnknownPlan,
  UnknownRegion,
  WeakPassword,
} from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordWeaknesses } from '../auth/passwordPolicy.js';
import { HashingQueueFull } from '../auth/passwords.js';
import { verificationMail } from '../emailVerification/mail.js';
import { RegistrationLimiter } from './registrationLimiter.js';

export const registrationPath = '/api/auth/register-organization';
export const provisioningStatusPath = (provisioningId: string) => `/api/auth/provisioning-status/${provisioningId}`;
const idempotencyScope = 'register-organization';

/** The request body; plans and regions are named in the descriptions so the OpenAPI document lists them. */
export function registrationBody(catalog: Catalog) {
  const plans = catalog.plans.map((p) => p.name).join(', ');
  const regions = catalog.regions.map((r) => r.name).join(', ');
  return z.object({
    organization_name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[^\p{Cc}]*[^\p{Cc}\s][^\p{Cc}]*$/u, 'must have a visible character and no control characters')
      .describe('Display name of the organization, in any script; the workspace subdomain is derived from it'),
    admin_email: Email.describe('Email of the first admin; it logs in with it'),
    admin_password: z
      .string()
      .min(PASSWORD_MIN_LENGTH)
      .max(PASSWORD_MAX_LENGTH)
      .describe(
        `${PASSWORD_MIN_LENGTH}-${PASSWORD_MAX_LENGTH} characters of at least two kinds (lowercase, uppercase, digits, symbols), not the email`,
      ),
    plan: z.string().min(1).max(64).describe(`One of: ${plans}`),
    region: z.string().min(1).max(64).optional().describe(`One of: ${regions} (default ${catalog.defaultRegion})`),
  });
}
type RegistrationBody = z.output<ReturnType<typeof registrationBody>>;

const RegistrationAccepted = z.object({
  provisioning_id: z.uuid().describe('Poll it at the Location header'),
  tenant_id: z.uuid(),
  status: z.literal('pending'),
});
type RegistrationAccepted = z.output<typeof RegistrationAccepted>;

const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .describe(
      'Makes retries safe: the same key with the same body answers the first answer again (for IDEMPOTENCY_TTL); ' +
        'with another body 422; while the first is still running 409',
    ),
});

/**
 * The request field a client sent for a field of the RegisterOrganization contract: the API
 * spells the contract's camelCase fields in snake_case (`adminEmail` → `admin_email`).
 */
export function requestFieldOf(contractPath: string): string {
  return contractPath.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * `POST /api/auth/register-organization`: validate, count it against the registration limits, hash
 * the password with argon2id and seal the hash under the KEK, publish `RegisterOrganization`, answer 202 with where to follow provisioning. The gateway never
 * provisions; the provisioner consumes the command.
 */
export const registrationRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const { passwords, idempotency } = deps;
  const registrations = sharedCounter(deps.metrics, {
    name: 'registrations_total',
    help: 'Organization registrations by outcome',
    labelNames: ['outcome'],
  });
  type Outcome = 'accepted' | 'replayed' | 'rejected' | 'conflict' | 'rate_limited' | 'busy' | 'error';
  const count = (outcome: Outcome) => registrations.inc({ outcome });
  const limiter = new RegistrationLimiter(deps.redis, deps.config.REDIS_KEY_PREFIX, {
    maxPerAddress: deps.config.REGISTRATION_MAX_PER_ADDRESS,
    maxTotal: deps.config.REGISTRATION_MAX_TOTAL,
    windowMs: deps.config.REGISTRATION_WINDOW,
  });
  // The body as the client sent it, before validation applies defaults or strips anything.
  const fingerprints = new WeakMap<FastifyRequest, string>();

  const register = async (
    request: FastifyRequest,
    body: RegistrationBody,
    ids: { tenantId: string; provisioningId: string },
  ) => {
    const plan = deps.catalog.plan(body.plan);
    if (!plan) throw new UnknownPlan(body.plan, deps.catalog.plans.map((p) => p.name).join(', '));
    const region = body.region ?? deps.catalog.defaultRegion;
    if (!deps.catalog.region(region)) {
      throw new UnknownRegion(region, deps.catalog.regions.map((r) => r.name).join(', '));
    }
    const adminEmail = body.admin_email.trim().toLowerCase();
    const weaknesses = passwordWeaknesses(body.admin_password, adminEmail);
    if (weaknesses.length > 0) throw new WeakPassword(weaknesses.join('; '));
    // Counted once the request is valid and before argon2: a replayed Idempotency-Key is not counted again.
    const wait = await limiter.reserve(request.ip);
    if (wait !== undefined) throw withHeaders(new TooManyRegistrations(wait), { 'retry-after': String(wait) });

    let passwordHash: string;
    try {
      passwordHash = await passwords.hash(body.admin_password);
    } catch (error) {
      if (!(error instanceof HashingQueueFull)) throw error;
      throw withHeaders(new PasswordHashingBusy(error.retryAfterSeconds), {
        'retry-after': String(error.retryAfterSeconds),
      });
    }
    const message = encodeRegistration({
      ...ids,
      organizationName: body.organization_name,
      adminEmail,
      // Sealed under the KEK, bound to the tenant: whoever reads COMMANDS sees no password hash.
      adminPasswordHash: await sealSecret(deps.kek, Buffer.from(passwordHash, 'utf8'), ids.tenantId),
      plan: plan.name,
      region,
      requestedAt: new Date().toISOString(),
    });
    trace.getActiveSpan()?.setAttribute('ttm.tenant_id', ids.tenantId);
    const { emailVerification } = deps;
    if (emailVerification.required) {
      // The unverified admin and its mail are committed only if the command was published;
      // provisioning itself never waits for the verification.
      await inTransaction(deps.pool, async (client) => {
        const token = await emailVerification.verifications.begin(client, ids.tenantId, adminEmail);
        await emailVerification.outbox.enqueue(
          client,
          'email-verification',
          verificationMail(deps.config.EMAIL_VERIFICATION_URL, adminEmail, token, body.organization_name),
        );
        await publishMessage(deps.js, RegisterOrganization.subject, message);
      });
      emailVerification.dispatcher.wake();
    } else {
      await publishMessage(deps.js, RegisterOrganization.subject, message);
    }
    deps.operations.acceptedRegistration(ids.provisioningId, ids.tenantId);
    const accepted: RegistrationAccepted = {
      provisioning_id: ids.provisioningId,
      tenant_id: ids.tenantId,
      status: 'pending',
    };
    return { status: 202, headers: { location: provisioningStatusPath(ids.provisioningId) }, body: accepted };
  };

  app.post<{ Body: RegistrationBody }>(
    registrationPath,
    {
      schema: {
        summary: 'Register an organization and provision its workspace',
        description:
          'Answers 202 at once; provisioning runs in the background. Follow it at the Location header. ' +
          'Send an Idempotency-Key to retry safely. Registrations per client address and in total are limited per ' +
          'REGISTRATION_WINDOW: 429 with Retry-After. With EMAIL_VERIFICATION=required the admin is mailed a ' +
          'verification link and can log in only once it is opened (POST /api/auth/verify-email).',
        tags: ['auth'],
        headers: zodSchema(IdempotencyHeaders),
        body: zodSchema(registrationBody(deps.catalog)),
        response: {
          202: zodSchema(RegistrationAccepted, { io: 'output' }),
          400: problemJsonSchema,
          409: problemJsonSchema,
          413: problemJsonSchema,
          422: problemJsonSchema,
          429: problemJsonSchema,
          503: problemJsonSchema,
        },
      },
      preValidation: async (request) => {
        fingerprints.set(request, fingerprintOf(request.body));
      },
    },
    async (request, reply) => {
      const key = parseIdempotencyKey(request.headers['idempotency-key']);
      if (key === null) {
        count('rejected');
        throw new InvalidIdempotencyKey();
      }
      const fingerprint = fingerprints.get(request) ?? fingerprintOf(request.body);
      if (key === undefined) {
        const answer = await register(request, request.body, {
          tenantId: randomUUID(),
          provisioningId: randomUUID(),
        }).catch((error: unknown) => {
          count(outcomeOf(error));
          throw error;
        });
        count('accepted');
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      }

      const claim = await idempotency.claim(idempotencyScope, key, fingerprint);
      switch (claim.kind) {
        case 'replay':
          count('replayed');
          return reply
            .code(claim.response.status)
            .headers({ ...claim.response.headers, 'idempotent-replayed': 'true' })
            .send(claim.response.body);
        case 'mismatch':
          count('conflict');
          throw new IdempotencyKeyReused();
        case 'in-flight':
          count('conflict');
          throw withHeaders(new IdempotencyKeyInFlight(), { 'retry-after': '1' });
        case 'first':
          break;
      }

      let answer: StoredResponse;
      try {
        // Derived ids: a retry after a crash (marker expired, answer never stored) makes the same tenant.
        answer = await register(request, request.body, {
          tenantId: derivedUuid('tenant', idempotencyScope, key, fingerprint),
          provisioningId: derivedUuid('provisioning', idempotencyScope, key, fingerprint),
        });
      } catch (error) {
        count(outcomeOf(error));
        await idempotency
          .abandon(idempotencyScope, key, fingerprint, claim.owner)
          .catch((releaseError: unknown) =>
            request.log.warn({ err: releaseError }, 'could not release an Idempotency-Key after a failure'),
          );
        throw error;
      }
      await idempotency.complete(idempotencyScope, key, fingerprint, answer);
      count('accepted');
      return reply.code(answer.status).headers(answer.headers).send(answer.body);
    },
  );
};

/**
 * The command, checked against its contract. The request schema and the contract agree, but
 * where they count differently (JSON Schema counts characters, zod UTF-16 units) the client
 * still gets a 400 naming its field rather than a 500.
 */
function encodeRegistration(data: z.input<typeof RegisterOrganization.schema>) {
  try {
    return encodeMessage(RegisterOrganization, data, {
      source: '/ttm/gateway',
      id: data.provisioningId,
      subject: data.tenantId,
    });
  } catch (error) {
    if (!(error instanceof ContractViolation)) throw error;
    const validation: FastifySchemaValidationError[] = error.fields.map((field) => ({
      keyword: 'contract',
      instancePath: `/${requestFieldOf(field.path)}`,
      schemaPath: '',
      params: {},
      message: field.message,
    }));
    throw Object.assign(new Error(error.message), { statusCode: 400, validation, validationContext: 'body' });
  }
}

function outcomeOf(error: unknown): 'rejected' | 'rate_limited' | 'busy' | 'error' {
  if ((error as { code?: unknown }).code === 'TTM_TOO_MANY_REGISTRATIONS') return 'rate_limited';
  if ((error as { code?: unknown }).code === 'TTM_PASSWORD_HASHING_BUSY') return 'busy';
  return isClientError(error) ? 'rejected' : 'error';
}

function isClientError(error: unknown): boolean {
  const status = (error as { statusCode?: unknown }).statusCode;
  return isDomainProblem(error) ? error.statusCode < 500 : typeof status === 'number' && status < 500;
}
