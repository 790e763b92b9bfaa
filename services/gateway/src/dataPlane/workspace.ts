import type { Placement } from '@ttm/contracts';
import { type DataPlanePool, type DataPlanePools, inTransaction as inPoolTransaction } from '@ttm/data-plane';
import pg from 'pg';

/** Twenty's workspace schema names: `workspace_` + the workspace uuid in base 36. */
const WORKSPACE_SCHEMA = /^workspace_[0-9a-z]{1,30}$/;

/**
 * One tenant's Twenty workspace as the tenant API reaches it: the shared pool of its database,
 * its workspace id (the tenant id) for the `core` tables, and its schema, already quoted.
 * Built only from the tenant directory's placement of the authenticated tenant, never from
 * anything a client sent, so every query of a request stays inside the caller's workspace.
 */
export interface Workspace {
  pool: DataPlanePool;
  workspaceId: string;
  /** The workspace schema as a quoted identifier, ready to qualify table names. */
  schema: string;
}

export function workspaceOf(pools: DataPlanePools, workspaceId: string, placement: Placement): Workspace {
  if (!WORKSPACE_SCHEMA.test(placement.schema)) {
    throw new Error(`tenant ${workspaceId} has the placement schema "${placement.schema}", not a workspace schema`);
  }
  return { pool: pools.poolFor(placement), workspaceId, schema: pg.escapeIdentifier(placement.schema) };
}

/** `"schema"."table"`, both identifiers quoted. */
export function qualified(workspace: Workspace, table: string): string {
  return `${workspace.schema}.${pg.escapeIdentifier(table)}`;
}

/** Run `work` in one transaction on a connection of the workspace's pool; rolled back if it throws. */
export function inTransaction<T>(workspace: Workspace, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inPoolTransaction(workspace.pool, work);
}
