import { randomUUID } from 'node:crypto';
import {
  type DataPlanePool,
  DataPlanePools,
  type DataPlanePoolsOptions,
  ensureCoreSchema,
  inTransaction,
  type Placement,
  placementFor,
  WORKSPACE_SCHEMA_VERSION,
  workspaceSchemaSql,
} from '@ttm/data-plane';
import type { Catalog, Cluster, Logger } from '@ttm/service-kit';
import pg from 'pg';
import { claimWarmSchema, WARM_POOL_SQL, WarmPoolFiller, type WarmPoolOptions } from './warmPool.js';

export interface NewWorkspace {
  workspaceId: string;
  displayName: string;
  subdomain: string;
  adminEmail: string;
  adminPasswordHash: string;
}

export type ActivationStatus = 'ACTIVE' | 'SUSPENDED' | 'INACTIVE';

/**
 * The provisioner's hands on the Twenty data plane: one bounded pool per database it
 * touches (the cluster's shared database, or a tenant's dedicated one), opened lazily.
 */
/** One database of one cluster: two clusters may use the same database name. */
function databaseKey(placement: Placement): string {
  return `${placement.region}/${placement.cluster}/${placement.database}`;
}

export class DataPlane {
  private readonly pools: DataPlanePools;
  private readonly prepared = new Map<string, Promise<void>>();
  private readonly fillers: WarmPoolFiller[] = [];

  constructor(
    private readonly catalog: Catalog,
    logger: Logger,
    bounds: Omit<DataPlanePoolsOptions, 'applicationName'> = { maxConnections: 4 },
  ) {
    this.pools = new DataPlanePools(catalog, logger, { applicationName: 'ttm-provisioner', ...bounds });
  }

  /** The pools open now, for the connection gauges. */
  openPools(): ReturnType<DataPlanePools['openPools']> {
    return this.pools.openPools();
  }

  /** The connection budget per server, for the `ttm_data_plane_*` gauges. */
  budgetSnapshots(): ReturnType<DataPlanePools['budgetSnapshots']> {
    return this.pools.budgetSnapshots();
  }

  cluster(region: string, clusterName: string): Cluster {
    return this.pools.cluster(region, clusterName);
  }

  /** Where a new workspace goes, given the cluster the placement step chose. */
  placementFor(region: string, cluster: Cluster, kind: Placement['kind'], workspaceId: string): Placement {
    return placementFor(region, cluster, kind, workspaceId);
  }

  /**
   * Create the whole workspace in one transaction: core rows, the workspace schema with its
   * tables, roles, the admin user and its workspaceMember. Either all of it exists or none,
   * and a second call for the same workspace finds it and does nothing.
   */
  async createWorkspace(placement: Placement, input: NewWorkspace): Promise<'created' | 'existed'> {
    const pool = await this.open(placement);
    return inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [input.workspaceId]);
      const existing = await client.query('SELECT 1 FROM core.workspace WHERE id = $1', [input.workspaceId]);
      if (existing.rowCount) return 'existed';
      const userId = randomUUID();
      const userWorkspaceId = randomUUID();
      const adminRoleId = randomUUID();
      const schema = pg.escapeIdentifier(placement.schema);
      await client.query(
        `INSERT INTO core.workspace (id, "displayName", subdomain, "activationStatus", "databaseSchema")
         VALUES ($1, $2, $3, 'ONGOING_CREATION', $4)`,
        [input.workspaceId, input.displayName, input.subdomain, placement.schema],
      );
      const warm = placement.kind === 'schema' ? await claimWarmSchema(client) : undefined;
      if (warm) {
        await client.query(`ALTER SCHEMA ${pg.escapeIdentifier(warm)} RENAME TO ${schema}`);
      } else {
        await client.query(workspaceSchemaSql(placement.schema));
      }
      await client.query(
        `WITH u AS (
           INSERT INTO core."user" (id, email, "passwordHash", "defaultWorkspaceId") VALUES ($1, $2, $3, $4)
         ), uw AS (
           INSERT INTO core."userWorkspace" (id, "userId", "workspaceId") VALUES ($5, $1, $4)
         ), roles AS (
           INSERT INTO core.role (id, "workspaceId", label, "canUpdateAllSettings", "isEditable")
           VALUES ($6, $4, 'Admin', true, false), (gen_random_uuid(), $4, 'Member', false, true)
         ), rt AS (
           INSERT INTO core."roleTarget" (id, "workspaceId", "roleId", "userWorkspaceId") VALUES (gen_random_uuid(), $4, $6, $5)
         )
         INSERT INTO core."dataSource" (id, "workspaceId", schema, "schemaVersion") VALUES (gen_random_uuid(), $4, $7, $8)`,
        [
          userId,
          input.adminEmail,
          input.adminPasswordHash,
          input.workspaceId,
          userWorkspaceId,
          adminRoleId,
          placement.schema,
          WORKSPACE_SCHEMA_VERSION,
        ],
      );
      await client.query(
        `INSERT INTO ${schema}."workspaceMember" ("userId", "userEmail", "nameFirstName") VALUES ($1, $2, $3)`,
        [userId, input.adminEmail, input.adminEmail.split('@')[0] ?? ''],
      );
      return 'created' as const;
    });
  }

  async setActivationStatus(placement: Placement, workspaceId: string, status: ActivationStatus): Promise<void> {
    const pool = await this.open(placement);
    const result = await pool.query(
      `UPDATE core.workspace SET "activationStatus" = $2, "updatedAt" = now() WHERE id = $1`,
      [workspaceId, status],
    );
    if (result.rowCount === 0)
      throw new Error(`workspace ${workspaceId} does not exist on ${placement.cluster}/${placement.database}`);
  }

  /** Compensation: remove everything createWorkspace made. Safe to call when nothing was made. */
  async dropWorkspace(placement: Placement, workspaceId: string): Promise<void> {
    if (placement.kind === 'database') {
      await this.closePool(placement);
      await this.pools.adminQuery(
        placement,
        `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(placement.database)} WITH (FORCE)`,
      );
      return;
    }
    await inTransaction(await this.open(placement), async (client) => {
      await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(placement.schema)} CASCADE`);
      await client.query('DELETE FROM core.workspace WHERE id = $1', [workspaceId]); // cascades to the core rows
    });
  }

  /**
   * Keep a pool of warm workspace schemas in every shared cluster database that takes
   * schema placements; filled in the background while provisioning is idle.
   */
  async startWarmPools(options: WarmPoolOptions): Promise<void> {
    if (options.size <= 0) return;
    for (const region of this.catalog.regions) {
      for (const cluster of region.clusters) {
        if (!cluster.placements.includes('schema')) continue;
        const placement = this.placementFor(region.name, cluster, 'schema', '00000000-0000-0000-0000-000000000000');
        try {
          const pool = await this.open(placement);
          const filler = new WarmPoolFiller(pool, placement.database, options);
          this.fillers.push(filler);
          filler.start();
        } catch (error) {
          options.logger.warn(
            { err: error, cluster: cluster.name },
            'no warm schema pool for this cluster (unreachable)',
          );
        }
      }
    }
  }

  /** The databases whose warm pool this provisioner keeps filled. */
  get warmPoolDatabases(): string[] {
    return this.fillers.map((f) => f.database);
  }

  /** Fill every warm pool now (tests and benchmarks start from a full pool). */
  async fillWarmPools(): Promise<void> {
    await Promise.all(this.fillers.map((f) => f.fill()));
  }

  async close(): Promise<void> {
    for (const filler of this.fillers) filler.stop();
    this.prepared.clear();
    await this.pools.close();
  }

  /** The bounded pool of a placement's database (opened on first use), for the fleet upgrade. */
  poolOf(placement: Placement): Promise<DataPlanePool> {
    return this.open(placement);
  }

  /** The pool of the placement's database, created (and given its core schema) on first use. */
  private async open(placement: Placement): Promise<DataPlanePool> {
    const key = databaseKey(placement);
    let ready = this.prepared.get(key);
    if (!ready) {
      ready = this.prepare(placement);
      this.prepared.set(key, ready);
      ready.catch(() => this.prepared.delete(key));
    }
    await ready;
    return this.pools.poolFor(placement);
  }

  private async prepare(placement: Placement): Promise<void> {
    await this.pools
      .adminQuery(placement, `CREATE DATABASE ${pg.escapeIdentifier(placement.database)}`)
      .catch((error: { code?: string }) => {
        // 42P04: it exists already. 23505 (unique violation on pg_database): another process
        // created it at the same moment and committed first; it exists now too.
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    await ensureCoreSchema(this.pools.poolFor(placement), WARM_POOL_SQL);
  }

  private async closePool(placement: Placement): Promise<void> {
    this.prepared.delete(databaseKey(placement));
    await this.pools.closePool(placement);
  }
}
