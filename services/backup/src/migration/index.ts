/**
 * Live migration of a tenant between placements: its own aggregate, saga, projection and
 * dependencies. It shares with backups only what is in `../shared` (write freezes, tenant
 * info, the database schema) and reads and writes artifacts through the `BackupStore`
 * interface and `../artifact` functions.
 */
export type { MigrationDeps, MigrationHooks, MigrationSettings } from './deps.js';
export { migrationCommandHandlers } from './handlers.js';
export { createMigrationMetrics } from './metrics.js';
export { migrationsProjection } from './projection.js';
export { removeDueSources, runSourceSweeper } from './saga.js';
