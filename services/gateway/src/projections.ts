import type { ProjectionDefinition } from '@ttm/service-kit';
import { auditProjection } from './features/audit/auditLog.js';
import { tenantsProjection } from './features/tenants/projection.js';

/** Every projection the gateway keeps; `npm run replay -- gateway` rebuilds them all. */
export const projections: readonly ProjectionDefinition[] = [tenantsProjection, auditProjection];
