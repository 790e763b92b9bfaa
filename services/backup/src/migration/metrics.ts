import { Counter, Histogram, type Registry } from 'prom-client';

export interface MigrationMetrics {
  freezeDuration: Histogram;
  duration: Histogram;
  outcomes: Counter<'outcome' | 'step'>;
}

/** What migrations measure, on the backup service's `/metrics`. */
export function createMigrationMetrics(registry: Registry): MigrationMetrics {
  return {
    freezeDuration: new Histogram({
      name: 'migration_write_freeze_seconds',
      help: 'How long a migration refused the tenant writes (freeze to unfreeze)',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'migration_duration_seconds',
      help: 'Time from the start of a migration to the tenant taking writes at its new placement',
      buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
    outcomes: new Counter({
      name: 'migrations_total',
      help: 'Migrations that ended, by outcome (completed, failed) and the step a failure happened at',
      labelNames: ['outcome', 'step'],
      registers: [registry],
    }),
  };
}
