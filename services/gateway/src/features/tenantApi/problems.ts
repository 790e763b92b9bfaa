import { createProblem } from '../../problems.js';

/** Problem types of the tenant API (API keys, users, records). Add kinds; never rename one. */
const base = 'https://ttm.dev/problems';
export const tenantApiProblemTypes = {
  /** The API key is malformed, unknown, revoked or expired. */
  invalidApiKey: `${base}/invalid-api-key`,
  /** The route needs a signed-in user's access token; an API key may not do it (manage keys). */
  accessTokenRequired: `${base}/access-token-required`,
  /** The API key lacks the scope the route needs. */
  insufficientScope: `${base}/insufficient-scope`,
  /** The caller's role in the organization (Twenty's Admin or Member) does not allow the route. */
  roleRequired: `${base}/role-required`,
  /** The invitation token is unknown, used, revoked or expired. */
  invalidInvitation: `${base}/invalid-invitation`,
  apiKeyNotFound: `${base}/api-key-not-found`,
  userNotFound: `${base}/user-not-found`,
  userExists: `${base}/user-exists`,
  /** Removing yourself, or the workspace's last Admin. */
  userRemovalRefused: `${base}/user-removal-refused`,
  unknownObject: `${base}/unknown-object`,
  recordNotFound: `${base}/record-not-found`,
  /** A relation field names a record that does not exist in this workspace. */
  invalidReference: `${base}/invalid-reference`,
} as const;

export const InvalidApiKey = createProblem<[reason: string]>({
  code: 'TTM_INVALID_API_KEY',
  status: 401,
  type: tenantApiProblemTypes.invalidApiKey,
  title: 'Invalid API key',
  detail: 'The API key is not accepted: %s',
});

export const AccessTokenRequired = createProblem({
  code: 'TTM_ACCESS_TOKEN_REQUIRED',
  status: 403,
  type: tenantApiProblemTypes.accessTokenRequired,
  title: 'Access token required',
  detail: 'API keys are managed by a signed-in user: send the access token from the login, not an API key',
});

export const InsufficientScope = createProblem<[needed: string]>({
  code: 'TTM_INSUFFICIENT_SCOPE',
  status: 403,
  type: tenantApiProblemTypes.insufficientScope,
  title: 'API key scope missing',
  detail: 'this API key does not have the scope %s',
});

export const RoleRequired = createProblem<[needed: string]>({
  code: 'TTM_ROLE_REQUIRED',
  status: 403,
  type: tenantApiProblemTypes.roleRequired,
  title: 'Not allowed for your role',
  detail: '%s needs the Admin role in this organization',
});

export const ScopeEscalation = createProblem<[scopes: string]>({
  code: 'TTM_INSUFFICIENT_SCOPE',
  status: 403,
  type: tenantApiProblemTypes.insufficientScope,
  title: 'API key scope missing',
  detail: 'a key can only create keys with scopes it has itself; it lacks %s',
});

export const InvalidInvitation = createProblem({
  code: 'TTM_INVALID_INVITATION',
  status: 400,
  type: tenantApiProblemTypes.invalidInvitation,
  title: 'Invalid invitation',
  detail: 'the invitation token is unknown, already used, revoked or expired: ask an Admin for a new invitation',
});

export const ApiKeyNotFound = createProblem<[id: string]>({
  code: 'TTM_API_KEY_NOT_FOUND',
  status: 404,
  type: tenantApiProblemTypes.apiKeyNotFound,
  title: 'API key not found',
  detail: 'this organization has no API key with the id %s',
});

export const UserNotFound = createProblem<[id: string]>({
  code: 'TTM_USER_NOT_FOUND',
  status: 404,
  type: tenantApiProblemTypes.userNotFound,
  title: 'User not found',
  detail: 'this organization has no user with the id %s',
});

export const UserExists = createProblem<[email: string]>({
  code: 'TTM_USER_EXISTS',
  status: 409,
  type: tenantApiProblemTypes.userExists,
  title: 'User already in the organization',
  detail: '%s is already a user of this organization',
});

export const UserRemovalRefused = createProblem<[reason: string]>({
  code: 'TTM_USER_REMOVAL_REFUSED',
  status: 409,
  type: tenantApiProblemTypes.userRemovalRefused,
  title: 'User cannot be removed',
  detail: '%s',
});

export const UnknownObject = createProblem<[object: string, allowed: string]>({
  code: 'TTM_UNKNOWN_OBJECT',
  status: 404,
  type: tenantApiProblemTypes.unknownObject,
  title: 'Unknown object',
  detail: 'there is no object "%s"; the API serves: %s',
});

export const RecordNotFound = createProblem<[object: string, id: string]>({
  code: 'TTM_RECORD_NOT_FOUND',
  status: 404,
  type: tenantApiProblemTypes.recordNotFound,
  title: 'Record not found',
  detail: 'this organization has no %s with the id %s',
});

export const InvalidReference = createProblem<[detail: string]>({
  code: 'TTM_INVALID_REFERENCE',
  status: 400,
  type: tenantApiProblemTypes.invalidReference,
  title: 'Invalid reference',
  detail: '%s',
});
