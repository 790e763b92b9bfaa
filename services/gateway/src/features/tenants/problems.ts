import { createProblem } from '../../problems.js';

export const TenantNotFound = createProblem<[tenantId: string]>({
  code: 'TTM_TENANT_NOT_FOUND',
  status: 404,
  type: 'https://ttm.dev/problems/tenant-not-found',
  title: 'Tenant not found',
  detail: 'no tenant has the id %s',
});

export const TenantStateConflict = createProblem<[tenantId: string, status: string, action: string, allowed: string]>({
  code: 'TTM_TENANT_STATE_CONFLICT',
  status: 409,
  type: 'https://ttm.dev/problems/tenant-state-conflict',
  title: 'Tenant state conflict',
  detail: 'tenant %s is %s and cannot be %s; only a tenant that is %s can',
});

export const InvalidCursor = createProblem({
  code: 'TTM_INVALID_CURSOR',
  status: 400,
  type: 'https://ttm.dev/problems/invalid-cursor',
  title: 'Invalid cursor',
  detail: 'the cursor is not one this list gave out; start again without it',
});
