import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import { createProblem } from '../../problems.js';

/** The session cookie: HttpOnly, SameSite=Strict, Path=/; Secure when the request came over HTTPS. */
export const SESSION_COOKIE = 'ttm_session';
/** Cookie-authorized requests that change something must carry this header (CSRF: a form cannot set it). */
export const CSRF_HEADER = 'x-ttm-csrf';
export const SESSION_TTL_MS = 8 * 3_600_000;

export const CsrfHeaderRequired = createProblem({
  code: 'TTM_CSRF_HEADER_REQUIRED',
  status: 403,
  type: 'https://ttm.dev/problems/forbidden',
  title: 'Forbidden',
  detail: 'a request authorized by the dashboard session cookie must send the X-TTM-CSRF: 1 header',
});

export const CrossOriginUpgrade = createProblem({
  code: 'TTM_CROSS_ORIGIN',
  status: 403,
  type: 'https://ttm.dev/problems/forbidden',
  title: 'Forbidden',
  detail: 'the live stream opened with the session cookie must come from the dashboard origin',
});

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Operator sessions of the dashboard, in Redis (so every gateway instance, and one restarted,
 * knows them): the cookie holds a random token, Redis its sha256 with a TTL. Signing in checks
 * the operator key; the key itself is never stored nor sent back.
 */
export class DashboardSessions {
  private readonly expectedKey: Buffer;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    operatorKey: string,
    readonly ttlMs = SESSION_TTL_MS,
  ) {
    this.expectedKey = digest(operatorKey);
  }

  /** The operator key, compared in constant time. */
  keyMatches(given: string): boolean {
    return given.length > 0 && timingSafeEqual(digest(given), this.expectedKey);
  }

  /** A new session; returns the cookie value. */
  async open(actor: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.redis.set(this.key(token), JSON.stringify({ actor, at: new Date().toISOString() }), 'PX', this.ttlMs);
    return token;
  }

  async close(token: string): Promise<void> {
    await this.redis.del(this.key(token));
  }

  async valid(token: string | undefined): Promise<boolean> {
    if (!token || token.length > 100) return false;
    return (await this.redis.exists(this.key(token))) === 1;
  }

  /**
   * The check the admin routes run when no X-Admin-Key is sent: true for a valid session cookie,
   * a 403 problem when the cookie is valid but the CSRF header (or, for the live socket, the
   * origin) is wrong, false when there is no valid session.
   */
  readonly authorizes = async (request: FastifyRequest): Promise<boolean> => {
    const token = request.cookies?.[SESSION_COOKIE];
    if (!(await this.valid(token))) return false;
    if (request.headers.upgrade?.toLowerCase() === 'websocket') {
      const origin = request.headers.origin;
      if (origin !== undefined && hostOf(origin) !== request.headers.host) throw new CrossOriginUpgrade();
      return true;
    }
    if (!safeMethods.has(request.method) && request.headers[CSRF_HEADER] !== '1') throw new CsrfHeaderRequired();
    return true;
  };

  private key(token: string): string {
    return `${this.keyPrefix}dashboard-session:${digest(token).toString('base64url')}`;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
