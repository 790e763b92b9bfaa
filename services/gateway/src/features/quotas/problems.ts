import { createProblem } from '../../problems.js';

/** Problem types of the quota and usage routes. Add kinds; never rename one. */
export const quotaProblemTypes = {
  invalidUsageRange: 'https://ttm.dev/problems/invalid-usage-range',
  usageUnavailable: 'https://ttm.dev/problems/usage-unavailable',
} as const;

export const InvalidUsageRange = createProblem<[reason: string]>({
  code: 'TTM_INVALID_USAGE_RANGE',
  status: 400,
  type: quotaProblemTypes.invalidUsageRange,
  title: 'Invalid usage range',
  detail: '%s',
});

export const UsageUnavailable = createProblem<[reason: string]>({
  code: 'TTM_USAGE_UNAVAILABLE',
  status: 503,
  type: quotaProblemTypes.usageUnavailable,
  title: 'Usage unavailable',
  detail: 'usage cannot be read right now (%s); retry shortly',
});

export const EmptyQuotaOverride = createProblem({
  code: 'TTM_EMPTY_QUOTA_OVERRIDE',
  status: 400,
  type: 'https://ttm.dev/problems/validation',
  title: 'Nothing to override',
  detail:
    'give at least one of storage_bytes, users, api_calls_per_month (a positive integer, or null for the plan limit)',
});
