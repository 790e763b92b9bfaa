import type { ProjectionDefinition } from '@ttm/service-kit';
import { migrationsProjection } from '../migration/projection.js';
import { backupsProjection } from './backups.js';
import { tenantsProjection } from './tenants.js';

/** Every projection of the backup service, for `npm run replay -- backup`. */
export const projections: readonly ProjectionDefinition[] = [
  backupsProjection,
  tenantsProjection,
  migrationsProjection,
];
