/** Archiving idle tenants: their last activity (projections), who is idle (pure), and the sweep. */
export { apiCallActivityProjection, signInActivityProjection } from './activity.js';
export {
  assessIdleness,
  type IdleAssessment,
  type IdlePolicy,
  idleArchiveId,
  lastActivityOf,
  type TenantActivity,
} from './idleness.js';
export { serveIdleQueries } from './queries.js';
export {
  assessFleet,
  createIdleSweepMetrics,
  IDLE_SWEEP_ACTOR,
  type IdleSweepDeps,
  type IdleSweepMetrics,
  readTenantActivity,
  runIdleSweep,
  type SweepOutcome,
  sweepIdleTenants,
  type TenantIdleness,
} from './sweep.js';
