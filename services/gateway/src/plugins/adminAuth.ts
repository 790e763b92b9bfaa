import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditRecorder } from '../features/audit/recorder.js';
import { createProblem, problemJsonSchema } from '../problems.js';
import { securitySchemes } from './openapi.js';

export const adminKeyHeader = 'x-admin-key';
/** Optional: who the operator behind the key is (`ops@example.com`), for the audit log. */
export const adminActorHeader = 'x-admin-actor';

/** `schema.security` of every route behind the admin key. */
export const adminRouteSecurity = [{ [securitySchemes.adminKey]: [] }];
/** The 401 answer of every route behind the admin key, as documented. */
export const adminUnauthorizedSchema = {
  ...problemJsonSchema,
  description: 'X-Admin-Key is missing or wrong (a bearer token is not an admin key)',
};

/** Failed attempts written to the audit log per client address and minute; the rest are only refused. */
export const AUDITED_AUTH_FAILURES_PER_ADDRESS = 20;

export const AdminKeyRequired = createProblem<[reason: string]>({
  code: 'TTM_ADMIN_KEY_REQUIRED',
  status: 401,
  type: 'https://ttm.dev/problems/unauthorized',
  title: 'Unauthorized',
  detail: 'the X-Admin-Key header is missing or wrong: %s',
});

export interface AdminAuthOptions {
  /** `SUPER_ADMIN_KEY`. */
  adminKey: string;
  audit: AuditRecorder;
  logger: Logger;
  /** Failed attempts written to the audit log per client address and minute. */
  auditedFailuresPerAddress?: number;
  /** Another way in when no X-Admin-Key is sent (the dashboard's session cookie): true lets the request through. */
  session?: (request: FastifyRequest) => Promise<boolean>;
}

export interface AdminActor {
  kind: 'admin';
  id: string;
}

const saneActor = /^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,99}$/;

/** The operator behind a request: the `X-Admin-Actor` header when it is sane, else the key itself. */
export function adminActorOf(request: FastifyRequest): AdminActor {
  const given = request.headers[adminActorHeader];
  return { kind: 'admin', id: typeof given === 'string' && saneActor.test(given) ? given : 'admin-key' };
}

/**
 * Admin routes take `X-Admin-Key: $SUPER_ADMIN_KEY`, compared in constant time (sha256 of
 * both sides, so neither the content nor the length of the key leaks through timing).
 * A tenant's bearer token is never an admin key. Register it inside the admin routes'
 * plugin: its hook then guards exactly those routes, before any body is read.
 *
 * Failures are audited (`admin-auth-failed`), at most a few per client address and
 * minute, so someone scanning with wrong keys cannot flood the AUDIT stream, which
 * refuses new entries when full.
 */
export const adminAuth = fp<AdminAuthOptions>(
  async (app, options) => {
    const expected = digest(options.adminKey);
    // One budget per gateway (its audit recorder), however many scopes register this guard.
    let budget = budgets.get(options.audit);
    if (!budget) {
      budget = new FailureBudget(options.auditedFailuresPerAddress ?? AUDITED_AUTH_FAILURES_PER_ADDRESS, 60_000);
      budgets.set(options.audit, budget);
    }

    app.addHook('onRequest', async (request) => {
      const given = request.headers[adminKeyHeader];
      if (typeof given === 'string' && given.length > 0 && timingSafeEqual(digest(given), expected)) return;
      if (given === undefined && options.session && (await options.session(request))) return;
      const reason = whyRefused(request, given);
      if (budget!.take(request.ip)) {
        await options.audit
          .record(
            {
              actor: adminActorOf(request),
              action: 'admin-auth-failed',
              scope: 'system',
              target: {
                kind: 'route',
                id: `${request.method} ${request.routeOptions.url ?? request.url}`.slice(0, 200),
              },
              outcome: 'failure',
              detail: reason,
            },
            request,
          )
          .catch((error: unknown) => {
            // The 401 matters more than the audit entry; the recorder already logged it in full.
            options.logger.debug({ err: error }, 'failed admin authentication not audited');
          });
      }
      throw new AdminKeyRequired(reason);
    });
  },
  { name: 'ttm-admin-auth', fastify: '5.x' },
);

const budgets = new WeakMap<AuditRecorder, FailureBudget>();

/** Constant-time comparison of a presented key with the admin key. */
export function keyMatches(given: string, adminKey: string): boolean {
  return given.length > 0 && timingSafeEqual(digest(given), digest(adminKey));
}

/**
 * Whether the request carries the admin key: true when X-Admin-Key matches (constant time),
 * false when it carries none, and throws `AdminKeyRequired` when it carries a wrong one. For
 * routes that serve admins and others (operations, /metrics, /docs).
 */
export function carriesAdminKey(request: FastifyRequest, adminKey: string): boolean {
  const given = request.headers[adminKeyHeader];
  if (given === undefined) return false;
  if (typeof given === 'string' && given.length > 0 && timingSafeEqual(digest(given), digest(adminKey))) return true;
  throw new AdminKeyRequired(whyRefused(request, given));
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function whyRefused(request: FastifyRequest, given: string | string[] | undefined): string {
  if (Array.isArray(given)) return 'send exactly one X-Admin-Key header';
  if (given !== undefined && given.length > 0) return 'the key does not match (check SUPER_ADMIN_KEY)';
  if (/^bearer\s/i.test(request.headers.authorization ?? '')) {
    return 'a bearer token is not an admin key; send the operator key in X-Admin-Key';
  }
  return 'send the operator key in X-Admin-Key';
}

/** At most `limit` per key and window; the map is emptied every window so it cannot grow without bound. */
class FailureBudget {
  private counts = new Map<string, number>();
  private windowStart = Date.now();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  take(key: string): boolean {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.counts = new Map();
      this.windowStart = now;
    }
    const used = this.counts.get(key) ?? 0;
    if (used >= this.limit) return false;
    this.counts.set(key, used + 1);
    return true;
  }
}
