/**
 * The gateway's hands on the Twenty data plane: `DataPlanePools` (one bounded pool per
 * data-plane database, from `@ttm/data-plane`), built by the composition root with the
 * gateway's bounds, and the workspace of a tenant on it.
 */
export { adoptDataPlane, type DataPlanePool, DataPlanePools, withDatabase } from '@ttm/data-plane';
export { type Workspace, workspaceOf } from './workspace.js';

/** `application_name` of the gateway's data-plane sessions (count them in pg_stat_activity). */
export const DATA_PLANE_APPLICATION_NAME = 'ttm-gateway-dataplane';
