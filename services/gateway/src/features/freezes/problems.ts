import { createProblem } from '../../problems.js';

export const freezeProblemTypes = {
  tenantWritesFrozen: 'https://ttm.dev/problems/tenant-writes-frozen',
} as const;

export const TenantWritesFrozen = createProblem<[reason: string, since: string]>({
  code: 'TTM_TENANT_WRITES_FROZEN',
  status: 503,
  type: freezeProblemTypes.tenantWritesFrozen,
  title: 'Tenant writes paused',
  detail: 'the organization data is being moved or restored (%s since %s); reads work, retry writes after Retry-After',
});
