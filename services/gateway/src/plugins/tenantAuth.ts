import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { GatewayDeps } from '../deps.js';
import { API_KEY_PREFIX } from '../features/apiKeys/apiKeys.js';
import { requireTenantToken } from '../features/auth/index.js';
import { InvalidApiKey } from '../features/tenantApi/problems.js';
import { withHeaders } from '../problemHeaders.js';
import { TenantArchivedProblem, TenantSuspendedProblem } from '../problems.js';

const challenge = { 'www-authenticate': 'Bearer realm="ttm", error="invalid_token"' };

/**
 * Who calls a tenant route: sets `request.principal` from the bearer access token, or from a
 * tenant API key (`X-Api-Key: ttm_…` or `Authorization: Bearer ttm_…`), or refuses. Runs first
 * in the tenant scope, before limits and quotas. Keys are verified from memory (see `ApiKeys`);
 * a suspended organization's keys are refused like its tokens.
 */
export function tenantAuthenticate(deps: GatewayDeps): onRequestAsyncHookHandler {
  const guard = requireTenantToken(deps);
  const keys = deps.apiKeys;
  return async function authenticate(request, reply) {
    const presented = presentedApiKey(request);
    if (presented === undefined) {
      await guard.call(this, request, reply);
      return;
    }
    const verified = await keys.verify(presented);
    if (!verified) throw withHeaders(new InvalidApiKey('it is unknown, revoked or expired'), challenge);
    const tenant = deps.directory.get(verified.tenantId);
    if (!tenant || (tenant.status !== 'active' && tenant.status !== 'suspended' && tenant.status !== 'archived')) {
      throw withHeaders(new InvalidApiKey('its organization does not exist'), challenge);
    }
    if (tenant.status === 'suspended') throw new TenantSuspendedProblem(tenant.slug ?? tenant.tenantId);
    if (tenant.status === 'archived') throw new TenantArchivedProblem(tenant.slug ?? tenant.tenantId);
    request.principal = {
      tenantId: verified.tenantId,
      userId: verified.userId,
      tokenId: verified.keyId,
      via: 'api-key',
      apiKeyId: verified.keyId,
      scopes: verified.scopes,
    };
  };
}

/** The API key the request carries, if it carries one rather than an access token. */
function presentedApiKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  const authorization = request.headers.authorization;
  const bearer = authorization === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
  const bearerKey = bearer?.startsWith(API_KEY_PREFIX) ? bearer : undefined;
  if (header === undefined) return bearerKey;
  const key = Array.isArray(header) ? undefined : header.trim();
  if (key === undefined || (authorization !== undefined && bearerKey !== key)) {
    throw withHeaders(
      new InvalidApiKey('send one credential: one X-Api-Key header, or the same key (or nothing) in Authorization'),
      challenge,
    );
  }
  return key;
}
