import { createProblem } from '../../problems.js';

/** Problem types of the migration route. Add kinds; never rename one. */
export const migrationProblemTypes = {
  invalidMigrationTarget: 'https://ttm.dev/problems/invalid-migration-target',
  migrationConflict: 'https://ttm.dev/problems/migration-conflict',
} as const;

export const InvalidMigrationTarget = createProblem<[reason: string]>({
  code: 'TTM_INVALID_MIGRATION_TARGET',
  status: 400,
  type: migrationProblemTypes.invalidMigrationTarget,
  title: 'Invalid migration target',
  detail: '%s',
});

export const MigrationConflict = createProblem<[reason: string]>({
  code: 'TTM_MIGRATION_CONFLICT',
  status: 409,
  type: migrationProblemTypes.migrationConflict,
  title: 'Migration conflict',
  detail: '%s',
});
