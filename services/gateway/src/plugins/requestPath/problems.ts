import type { Meter } from '@ttm/contracts';
import type { ProblemBody } from '../problemDetails.js';
import type { QuotaRefusal } from './quotaGate.js';

/**
 * Problem types of the tenant request path. Add kinds; never rename one. Rate limit and quota
 * are distinct types: a rate-limited client waits seconds, a client over a quota waits for the
 * next month, an override or a plan change.
 */
export const requestPathProblemTypes = {
  /** 429: the plan's request rate (RateLimit-Policy) is used up; Retry-After says when to retry. */
  rateLimited: 'https://ttm.dev/problems/rate-limited',
  /** 503: the rate limiter's store is unreachable and RATE_LIMIT_FAILURE_MODE=closed. */
  rateLimiterUnavailable: 'https://ttm.dev/problems/rate-limiter-unavailable',
  /** 429: the monthly api_calls quota is used up (until the next UTC month or an override). */
  apiCallQuotaExceeded: 'https://ttm.dev/problems/api-call-quota-exceeded',
  /** 403: over the storage_bytes quota: writes refused, reads still served. */
  storageQuotaExceeded: 'https://ttm.dev/problems/storage-quota-exceeded',
  /** 403: over the users quota: inviting users refused. */
  userQuotaExceeded: 'https://ttm.dev/problems/user-quota-exceeded',
} as const;

/** The policy name in RateLimit-Policy / RateLimit and `violated-policies`. */
export const RATE_POLICY = 'tenant';

/** A problem body with extension members (RFC 9457 §3.2). */
export type ExtendedProblem = ProblemBody & Record<string, unknown>;

export function rateLimitedProblem(
  requests: number,
  windowSeconds: number,
  retryAfterSeconds: number,
): ExtendedProblem {
  return {
    type: requestPathProblemTypes.rateLimited,
    title: 'Too many requests',
    status: 429,
    detail: `The organization's plan allows ${requests} requests per ${windowSeconds} s; retry in ${retryAfterSeconds} s`,
    code: 'TTM_RATE_LIMITED',
    'violated-policies': [RATE_POLICY],
  };
}

export function rateLimiterUnavailableProblem(): ExtendedProblem {
  return {
    type: requestPathProblemTypes.rateLimiterUnavailable,
    title: 'Rate limiter unavailable',
    status: 503,
    detail: 'Requests cannot be counted against the rate limit right now; retry in a moment',
    code: 'TTM_RATE_LIMITER_UNAVAILABLE',
  };
}

const quotaProblems: Record<Meter, { type: string; status: number; title: string; code: string; what: string }> = {
  api_calls: {
    type: requestPathProblemTypes.apiCallQuotaExceeded,
    status: 429,
    title: 'API call quota exceeded',
    code: 'TTM_API_CALL_QUOTA_EXCEEDED',
    what: 'API calls this month',
  },
  storage_bytes: {
    type: requestPathProblemTypes.storageQuotaExceeded,
    status: 403,
    title: 'Storage quota exceeded',
    code: 'TTM_STORAGE_QUOTA_EXCEEDED',
    what: 'bytes of storage; reads are still served, writes are refused',
  },
  users: {
    type: requestPathProblemTypes.userQuotaExceeded,
    status: 403,
    title: 'User quota exceeded',
    code: 'TTM_USER_QUOTA_EXCEEDED',
    what: 'users; no more can be invited',
  },
};

/** The problem for a quota refusal: names the meter, its limit and the usage that passed it. */
export function quotaProblem(refusal: QuotaRefusal): ExtendedProblem {
  const kind = quotaProblems[refusal.meter];
  return {
    type: kind.type,
    title: kind.title,
    status: kind.status,
    detail: `The organization is over its ${refusal.meter} quota: ${refusal.used} of ${refusal.limit} ${kind.what}`,
    code: kind.code,
    meter: refusal.meter,
    limit: refusal.limit,
    used: refusal.used,
    'violated-policies': [refusal.meter],
  };
}
