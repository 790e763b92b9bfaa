import type { Placement } from '@ttm/contracts';
import {
  beginTenantWrite,
  type DataPlanePool,
  type DataPlanePools,
  inTransaction as inDatabaseTransaction,
  TenantWritesClosed,
  tenantWrite,
} from '@ttm/data-plane';
import pg from 'pg';
import { withHeaders } from '../../problemHeaders.js';
import { TenantWritesFrozen } from '../freezes/problems.js';

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

/**
 * Run a tenant write: one transaction on a connection of the workspace's pool that first passes
 * the tenant's write gate in its database (`beginTenantWrite`: BEGIN, the gate lock and the
 * freeze look in one round trip), so a migration that has closed it refuses the write with 503
 * even when this gateway has not seen the freeze yet, and a migration closing it waits for this
 * write to end. Rolled back if `work` throws. Every data-plane write of the tenant API goes
 * through here; reads use the pool directly.
 */
export function inTransaction<T>(workspace: Workspace, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inDatabaseTransaction(workspace.pool, work, async (client) => {
    const closed = await beginTenantWrite(client, workspace.workspaceId, workspace.pool);
    if (closed) {
      throw withHeaders(new TenantWritesFrozen(closed.reason, closed.since.toISOString()), {
        'retry-after': String(closed.retryAfterS),
      });
    }
  });
}

/**
 * Run ONE tenant write statement behind the tenant's write gate in a single round trip
 * (`tenantWrite`: the gate and the statement pipelined as one transaction). Refused with 503
 * exactly as `inTransaction` refuses, when a migration has closed the gate. The tenant API's
 * record writes are single statements and go through here; writes of several statements use
 * `inTransaction`.
 */
export async function writeOnce<R extends pg.QueryResultRow>(
  workspace: Workspace,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult<R>> {
  try {
    return await tenantWrite<R>(workspace.pool, workspace.workspaceId, { text, values });
  } catch (error) {
    if (!(error instanceof TenantWritesClosed)) throw error;
    const closed = error.gate;
    throw withHeaders(new TenantWritesFrozen(closed.reason, closed.since.toISOString()), {
      'retry-after': String(closed.retryAfterS),
    });
  }
}
