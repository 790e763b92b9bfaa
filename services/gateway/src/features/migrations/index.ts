/** Moving a tenant to another region or database: `POST /api/admin/tenants/{id}/migrate` and the migration index. */
export { MigrationIndex } from './migrationIndex.js';
export { migrationRoutes } from './routes.js';
export type { MigrationOperation } from './view.js';
