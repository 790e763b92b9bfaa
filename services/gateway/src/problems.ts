import { STATUS_CODES } from 'node:http';
import { createRFC9457Error, type RFC9457Error } from '@fastify/error';

/**
 * Every kind of error the gateway answers with, as a stable RFC 9457 `type` URI.
 * Clients switch on `type`, never on `title` or `detail`: add a kind here, never rename one.
 */
const base = 'https://ttm.dev/problems';
export const problemTypes = {
  /** The request body, query, path parameters or headers do not match the route's schema. */
  validation: `${base}/validation`,
  /** The body could not be read as its Content-Type says (bad JSON, empty JSON, wrong length). */
  malformedBody: `${base}/malformed-body`,
  /** The request line itself is unusable (a URL that does not decode, a parameter too long). */
  badRequest: `${base}/bad-request`,
  notFound: `${base}/not-found`,
  payloadTooLarge: `${base}/payload-too-large`,
  unsupportedMediaType: `${base}/unsupported-media-type`,
  /**
   * PostgreSQL is out of connections for now (the connection budget stayed busy past its wait
   * limit, or the server refused or lost the connection): nothing was done; retry after Retry-After.
   */
  databaseBusy: `${base}/database-busy`,
  /** Something failed on our side; the detail never says what, the logs do (find them by request_id). */
  internal: `${base}/internal`,
} as const;
export type ProblemType = (typeof problemTypes)[keyof typeof problemTypes];

/** One offending input, in `errors` of a validation problem. */
export interface FieldProblem {
  /** Which part of the request: `body`, `querystring`, `params` or `headers`. */
  in: string;
  /** Dotted path of the field inside that part (`admin.email`); empty for the part as a whole. */
  name: string;
  /** JSON Pointer (RFC 6901) to the field inside that part, as a URI fragment (`#/admin/email`). */
  pointer: string;
  reason: string;
}

/** An `application/problem+json` body as the gateway sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  request_id: string;
  /** Stable machine code of a domain problem (`TTM_TENANT_NOT_FOUND`); absent for framework errors. */
  code?: string;
  errors?: FieldProblem[];
}

/** JSON Schema of a problem body, for routes to declare their error responses in the OpenAPI document. */
export const problemJsonSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'detail', 'instance', 'request_id'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    instance: { type: 'string' },
    request_id: { type: 'string' },
    code: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['in', 'name', 'pointer', 'reason'],
        properties: {
          in: { type: 'string' },
          name: { type: 'string' },
          pointer: { type: 'string' },
          reason: { type: 'string' },
        },
      },
    },
  },
} as const;

export interface ProblemDefinition {
  /** Stable machine code, upper snake case, prefixed `TTM_`. */
  code: string;
  status: number;
  /** A URI naming this kind of problem; add it to `problemTypes` or a feature's own constants. */
  type: string;
  /** Short, the same for every occurrence. */
  title: string;
  /** The per-occurrence explanation, a `util.format` template filled by the constructor's arguments. */
  detail: string;
}

export type DomainProblem = RFC9457Error & { code: string; statusCode: number };
export type DomainProblemConstructor<Args extends unknown[]> = {
  new (...args: Args): DomainProblem;
  (...args: Args): DomainProblem;
};

/**
 * A domain error class built on @fastify/error. Throw it from a route and the client gets
 * a problem with this type, title and status, and the filled-in detail:
 *
 *   const TenantNotFound = createProblem<[tenantId: string]>({
 *     code: 'TTM_TENANT_NOT_FOUND', status: 404, type: 'https://ttm.dev/problems/tenant-not-found',
 *     title: 'Tenant not found', detail: 'No tenant has the id %s',
 *   });
 *   throw new TenantNotFound(id);
 */
export function createProblem<Args extends unknown[] = []>(
  definition: ProblemDefinition,
): DomainProblemConstructor<Args> {
  if (!STATUS_CODES[definition.status] || definition.status < 400) {
    throw new Error(`createProblem(${definition.code}): ${definition.status} is not an HTTP error status`);
  }
  return createRFC9457Error(definition.code, definition.detail, definition.status, {
    type: definition.type,
    title: definition.title,
  }) as unknown as DomainProblemConstructor<Args>;
}

/** True for errors made by `createProblem` (or any @fastify/error RFC 9457 error). */
export function isDomainProblem(error: unknown): error is DomainProblem {
  return (
    error instanceof Error &&
    typeof (error as Partial<RFC9457Error>).toProblemDetails === 'function' &&
    typeof (error as Partial<DomainProblem>).statusCode === 'number'
  );
}

/* Registration and sign-in problems (POST /api/auth/*, bearer-token routes). */

/** Problem types of registration, login, tokens and `Idempotency-Key`. Add kinds; never rename one. */
export const authProblemTypes = {
  unknownPlan: `${base}/unknown-plan`,
  unknownRegion: `${base}/unknown-region`,
  weakPassword: `${base}/weak-password`,
  invalidIdempotencyKey: `${base}/invalid-idempotency-key`,
  /** The same `Idempotency-Key` came with another body (IETF draft: 422). */
  idempotencyKeyReused: `${base}/idempotency-key-reused`,
  /** The first request with this `Idempotency-Key` is still being answered (IETF draft: 409). */
  idempotencyKeyInFlight: `${base}/idempotency-key-in-flight`,
  invalidCredentials: `${base}/invalid-credentials`,
  /** The email administers several organizations: the `tenants` member lists them; pass `tenant`. */
  tenantChoiceRequired: `${base}/tenant-choice-required`,
  tenantSuspended: `${base}/tenant-suspended`,
  tenantArchived: `${base}/tenant-archived`,
  tooManyLoginFailures: `${base}/too-many-login-failures`,
  /** This address, or everyone together, registered as many organizations as REGISTRATION_WINDOW allows. */
  tooManyRegistrations: `${base}/too-many-registrations`,
  /** More passwords waiting to be hashed (argon2id) than can start within ARGON2_QUEUE_WAIT: try again. */
  passwordHashingBusy: `${base}/password-hashing-busy`,
  /** The password is right but the admin has not verified its e-mail address (EMAIL_VERIFICATION=required). */
  emailNotVerified: `${base}/email-not-verified`,
  /** The e-mail verification token is unknown, already used or expired. */
  invalidVerificationToken: `${base}/invalid-verification-token`,
  tooManyVerificationResends: `${base}/too-many-verification-resends`,
  invalidRefreshToken: `${base}/invalid-refresh-token`,
  /** A refresh token was presented twice: its whole family is revoked, log in again. */
  refreshTokenReused: `${base}/refresh-token-reused`,
  /** Bearer token missing, malformed, expired, or signed by a key we do not know. */
  invalidAccessToken: `${base}/invalid-access-token`,
} as const;

export const UnknownPlan = createProblem<[plan: string, allowed: string]>({
  code: 'TTM_UNKNOWN_PLAN',
  status: 400,
  type: authProblemTypes.unknownPlan,
  title: 'Unknown plan',
  detail: 'plan "%s" is not offered; choose one of: %s',
});

export const UnknownRegion = createProblem<[region: string, allowed: string]>({
  code: 'TTM_UNKNOWN_REGION',
  status: 400,
  type: authProblemTypes.unknownRegion,
  title: 'Unknown region',
  detail: 'region "%s" is not served; choose one of: %s',
});

export const WeakPassword = createProblem<[reasons: string]>({
  code: 'TTM_WEAK_PASSWORD',
  status: 400,
  type: authProblemTypes.weakPassword,
  title: 'Password too weak',
  detail: 'admin_password is too weak: %s',
});

export const InvalidIdempotencyKey = createProblem({
  code: 'TTM_INVALID_IDEMPOTENCY_KEY',
  status: 400,
  type: authProblemTypes.invalidIdempotencyKey,
  title: 'Invalid Idempotency-Key',
  detail:
    'Idempotency-Key must be 1-255 visible ASCII characters (a uuid is a good choice), optionally in double quotes',
});

export const IdempotencyKeyReused = createProblem({
  code: 'TTM_IDEMPOTENCY_KEY_REUSED',
  status: 422,
  type: authProblemTypes.idempotencyKeyReused,
  title: 'Idempotency-Key reused with another request',
  detail: 'This Idempotency-Key was already used with a different request body; use a new key for a new request',
});

export const IdempotencyKeyInFlight = createProblem({
  code: 'TTM_IDEMPOTENCY_KEY_IN_FLIGHT',
  status: 409,
  type: authProblemTypes.idempotencyKeyInFlight,
  title: 'Request with this Idempotency-Key in progress',
  detail: 'The first request with this Idempotency-Key is still being processed; retry in a moment to get its answer',
});

export const InvalidCredentials = createProblem({
  code: 'TTM_INVALID_CREDENTIALS',
  status: 401,
  type: authProblemTypes.invalidCredentials,
  title: 'Login failed',
  detail: 'email or password is wrong',
});

/** Not the contracts event of the same concept: this is the 403 its users get. */
export const TenantSuspendedProblem = createProblem<[slug: string]>({
  code: 'TTM_TENANT_SUSPENDED',
  status: 403,
  type: authProblemTypes.tenantSuspended,
  title: 'Tenant suspended',
  detail: 'The organization %s is suspended; its users cannot sign in until an operator reactivates it',
});

/**
 * A request to an archived tenant's API (issue 10): 409, because the tenant exists and comes back
 * by itself: its next sign-in (`POST /api/auth/login`) answers 202 with the restore operation.
 */
export const TenantArchivedProblem = createProblem<[slug: string]>({
  code: 'TTM_TENANT_ARCHIVED',
  status: 409,
  type: authProblemTypes.tenantArchived,
  title: 'Tenant archived',
  detail:
    'The organization %s was archived after a period without use; sign in again (POST /api/auth/login answers ' +
    '202 with the restore operation to follow) or ask an operator (POST /api/admin/tenants/{id}/unarchive)',
});

export const TooManyLoginFailures = createProblem<[retryAfterSeconds: number]>({
  code: 'TTM_TOO_MANY_LOGIN_FAILURES',
  status: 429,
  type: authProblemTypes.tooManyLoginFailures,
  title: 'Too many failed logins',
  detail: 'Too many failed logins for this email or from this address; try again in %d seconds',
});

export const TooManyRegistrations = createProblem<[retryAfterSeconds: number]>({
  code: 'TTM_TOO_MANY_REGISTRATIONS',
  status: 429,
  type: authProblemTypes.tooManyRegistrations,
  title: 'Too many registrations',
  detail: 'Too many organizations registered from this address or in total recently; try again in %d seconds',
});

export const PasswordHashingBusy = createProblem<[retryAfterSeconds: number]>({
  code: 'TTM_PASSWORD_HASHING_BUSY',
  status: 503,
  type: authProblemTypes.passwordHashingBusy,
  title: 'Busy hashing passwords',
  detail:
    'Too many passwords are waiting to be hashed (argon2id) to start this one in time; nothing was done; try again in %d seconds (the same Idempotency-Key is safe)',
});

export const EmailNotVerified = createProblem({
  code: 'TTM_EMAIL_NOT_VERIFIED',
  status: 403,
  type: authProblemTypes.emailNotVerified,
  title: 'E-mail address not verified',
  detail: 'Open the verification link sent to this address first (POST /api/auth/resend-verification sends a new one)',
});

export const InvalidVerificationToken = createProblem({
  code: 'TTM_INVALID_VERIFICATION_TOKEN',
  status: 400,
  type: authProblemTypes.invalidVerificationToken,
  title: 'Invalid verification token',
  detail: 'The verification token is unknown, already used or expired; ask for a new one',
});

export const TooManyVerificationResends = createProblem<[retryAfterSeconds: number]>({
  code: 'TTM_TOO_MANY_VERIFICATION_RESENDS',
  status: 429,
  type: authProblemTypes.tooManyVerificationResends,
  title: 'Too many verification e-mails asked for',
  detail: 'Too many verification e-mails asked for from this address; try again in %d seconds',
});

export const InvalidRefreshToken = createProblem({
  code: 'TTM_INVALID_REFRESH_TOKEN',
  status: 401,
  type: authProblemTypes.invalidRefreshToken,
  title: 'Invalid refresh token',
  detail: 'The refresh token is unknown, expired or revoked; log in again',
});

export const RefreshTokenReused = createProblem({
  code: 'TTM_REFRESH_TOKEN_REUSED',
  status: 401,
  type: authProblemTypes.refreshTokenReused,
  title: 'Refresh token reused',
  detail: 'This refresh token was already used, so every token of its session is now revoked; log in again',
});

export const InvalidAccessToken = createProblem<[reason: string]>({
  code: 'TTM_INVALID_ACCESS_TOKEN',
  status: 401,
  type: authProblemTypes.invalidAccessToken,
  title: 'Invalid access token',
  detail: 'The bearer token is not accepted: %s',
});
