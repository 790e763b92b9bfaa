import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { withHeaders } from '../../problemHeaders.js';
import { InvalidAccessToken, isDomainProblem, TenantArchivedProblem, TenantSuspendedProblem } from '../../problems.js';
import type { TenantDirectory } from '../tenants/directory.js';
import type { AccessTokens } from './tokens.js';

/** Who calls a tenant route: set by `requireTenantToken` from a verified access token, or from a tenant API key. */
export interface TenantPrincipal {
  tenantId: string;
  /** The signed-in user; with an API key, the user who created the key. */
  userId: string;
  /** `jti` of the access token; with an API key, the key id. */
  tokenId: string;
  /** How the caller proved who it is. */
  via: 'token' | 'api-key';
  /** The API key's id when `via` is `api-key`. */
  apiKeyId?: string;
  /** The API key's scopes when `via` is `api-key` (see features/users/roles.ts). */
  scopes?: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller of a tenant route; null on routes without `requireTenantToken`. */
    principal: TenantPrincipal | null;
  }
}

export interface TenantGuardDeps {
  directory: TenantDirectory;
  accessTokens: AccessTokens;
}

/** Declare `request.principal` on this instance (once per encapsulation context that uses the guard). */
export function decoratePrincipal(app: FastifyInstance): void {
  if (!app.hasRequestDecorator('principal')) app.decorateRequest('principal', null);
}

/**
 * A preHandler for tenant routes: verifies the bearer access token against the key ring, then
 * asks the tenant directory about its tenant, which follows EVENTS live, so a suspension stops
 * tokens already issued within about a second. Unknown tenant: 401; suspended: 403.
 *
 *   decoratePrincipal(app);
 *   app.get('/api/tenant/things', { preHandler: requireTenantToken(deps) }, async (request) => …request.principal!.tenantId…);
 */
export function requireTenantToken(deps: TenantGuardDeps): preHandlerAsyncHookHandler {
  const tokens = deps.accessTokens;
  return async (request: FastifyRequest) => {
    const token = bearerToken(request);
    if (token === undefined) {
      throw withHeaders(new InvalidAccessToken('send it as "Authorization: Bearer <access_token>"'), {
        'www-authenticate': 'Bearer realm="ttm"',
      });
    }
    let claims: Awaited<ReturnType<AccessTokens['verify']>>;
    try {
      claims = await tokens.verify(token);
    } catch (error) {
      if (isDomainProblem(error))
        withHeaders(error, { 'www-authenticate': 'Bearer realm="ttm", error="invalid_token"' });
      throw error;
    }
    const tenant = deps.directory.get(claims.tenantId);
    if (!tenant || (tenant.status !== 'active' && tenant.status !== 'suspended' && tenant.status !== 'archived')) {
      throw withHeaders(new InvalidAccessToken('its organization does not exist'), {
        'www-authenticate': 'Bearer realm="ttm", error="invalid_token"',
      });
    }
    if (tenant.status === 'suspended') throw new TenantSuspendedProblem(tenant.slug ?? tenant.tenantId);
    if (tenant.status === 'archived') throw new TenantArchivedProblem(tenant.slug ?? tenant.tenantId);
    request.principal = { tenantId: claims.tenantId, userId: claims.userId, tokenId: claims.tokenId, via: 'token' };
  };
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  return match?.[1];
}
