import type { Placement } from '@ttm/contracts';
import { type Cluster, databaseOf } from '@ttm/service-kit';
import { workspaceSchemaName } from './twentyLayout.js';

export type { Placement };

/** A database of the data plane: what one pool connects to. */
export type DatabaseAddress = Pick<Placement, 'region' | 'cluster' | 'database'>;

/** `<region>/<cluster>/<database>`: the key of a database's pool, in logs and gauges. */
export function databaseKey(address: DatabaseAddress): string {
  return `${address.region}/${address.cluster}/${address.database}`;
}

/** Both placements are given and name the same schema of the same database. */
export function samePlacement(a: Placement | undefined, b: Placement | undefined): boolean {
  return (
    !!a &&
    !!b &&
    a.region === b.region &&
    a.cluster === b.cluster &&
    a.kind === b.kind &&
    a.database === b.database &&
    a.schema === b.schema
  );
}

/**
 * A tenant's dedicated database is named after its cluster's shared database, so one cluster's
 * databases sort together: `<shared>_ws_<base36 of the workspace uuid>`.
 */
export function dedicatedDatabaseName(sharedDatabase: string, workspaceId: string): string {
  return `${sharedDatabase}_ws_${workspaceSchemaName(workspaceId).slice('workspace_'.length)}`;
}

/** Where a new workspace goes on the cluster the placement step chose. */
export function placementFor(
  region: string,
  cluster: Cluster,
  kind: Placement['kind'],
  workspaceId: string,
): Placement {
  const shared = databaseOf(cluster.url);
  const database = kind === 'database' ? dedicatedDatabaseName(shared, workspaceId) : shared;
  return { region, cluster: cluster.name, kind, database, schema: workspaceSchemaName(workspaceId) };
}

/** Where a clone of a workspace goes: a new schema in the shared database of the same cluster. */
export function clonePlacement(cluster: Cluster, source: Placement, schema: string): Placement {
  return { region: source.region, cluster: source.cluster, kind: 'schema', database: databaseOf(cluster.url), schema };
}
