import { randomUUID } from 'node:crypto';
import { CORE_SCHEMA_SQL, WORKSPACE_SCHEMA_VERSION, workspaceSchemaName, workspaceSchemaSql } from '@ttm/data-plane';
import { type Catalog, type Cluster, databaseOf, type Logger, withDatabase } from '@ttm/service-kit';
import pg from 'pg';
import { claimWarmSchema, WARM_POOL_SQL, WarmPoolFiller, type WarmPoolOptions } from './warmPool.js';

export interface WorkspacePlacement {
  region: string;
  cluster: string;
  kind: 'schema' | 'database';
  database: string;
  schema: string;
}

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
export class DataPlane {
  private readonly pools = new Map<string, pg.Pool>();
  private readonly prepared = new Map<string, Promise<void>>();
  private readonly fillers: WarmPoolFiller[] = [];

  constructor(
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    private readonly maxConnectionsPerDatabase = 4,
  ) {}

  cluster(region: string, clusterName: string): Cluster {
    const cluster = this.catalog.region(region)?.clusters.find((c) => c.name === clusterName);
    if (!cluster) throw new Error(`cluster ${clusterName} is not configured in region ${region} (REGIONS)`);
    return cluster;
  }

  /** Where a new workspace goes, given the cluster the placement step chose. */
  placementFor(region: string, cluster: Cluster, kind: 'schema' | 'database', workspaceId: string): WorkspacePlacement {
    const schema = workspaceSchemaName(workspaceId);
    // A dedicated database is named after the cluster's, so one cluster's databases sort together.
    const shared = databaseOf(cluster.url);
    const database = kind === 'database' ? `${shared}_ws_${schema.slice('workspace_'.length)}` : shared;
    return { region, cluster: cluster.name, kind, database, schema };
  }

  /**
   * Create the whole workspace in one transaction: core rows, the workspace schema with its
   * tables, roles, the admin user and its workspaceMember. Either all of it exists or none,
   * and a second call for the same workspace finds it and does nothing.
   */
  async createWorkspace(placement: WorkspacePlacement, input: NewWorkspace): Promise<'created' | 'existed'> {
    const pool = await this.open(placement);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [input.workspaceId]);
      const existing = await client.query('SELECT 1 FROM core.workspace WHERE id = $1', [input.workspaceId]);
      if (existing.rowCount) {
        await client.query('COMMIT');
        return 'existed';
      }
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
      await client.query('COMMIT');
      return 'created';
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async setActivationStatus(
    placement: WorkspacePlacement,
    workspaceId: string,
    status: ActivationStatus,
  ): Promise<void> {
    const pool = await this.open(placement);
    const result = await pool.query(
      `UPDATE core.workspace SET "activationStatus" = $2, "updatedAt" = now() WHERE id = $1`,
      [workspaceId, status],
    );
    if (result.rowCount === 0)
      throw new Error(`workspace ${workspaceId} does not exist on ${placement.cluster}/${placement.database}`);
  }

  /** Compensation: remove everything createWorkspace made. Safe to call when nothing was made. */
  async dropWorkspace(placement: WorkspacePlacement, workspaceId: string): Promise<void> {
    if (placement.kind === 'database') {
      await this.closePool(placement.database);
      await this.adminQuery(
        placement,
        `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(placement.database)} WITH (FORCE)`,
      );
      return;
    }
    const pool = await this.open(placement);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(placement.schema)} CASCADE`);
      await client.query('DELETE FROM core.workspace WHERE id = $1', [workspaceId]); // cascades to the core rows
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
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

  /** Fill every warm pool now (tests and benchmarks start from a full pool). */
  async fillWarmPools(): Promise<void> {
    await Promise.all(this.fillers.map((f) => f.fill()));
  }

  async close(): Promise<void> {
    for (const filler of this.fillers) filler.stop();
    await Promise.all([...this.pools.keys()].map((db) => this.closePool(db)));
  }

  /** The pool of the placement's database, created (and given its core schema) on first use. */
  private async open(placement: WorkspacePlacement): Promise<pg.Pool> {
    const cluster = this.cluster(placement.region, placement.cluster);
    const url = withDatabase(cluster.url, placement.database);
    let ready = this.prepared.get(placement.database);
    if (!ready) {
      ready = this.prepare(placement, url);
      this.prepared.set(placement.database, ready);
      ready.catch(() => this.prepared.delete(placement.database));
    }
    await ready;
    return this.poolFor(placement.database, url);
  }

  private async prepare(placement: WorkspacePlacement, url: string): Promise<void> {
    await this.adminQuery(placement, `CREATE DATABASE ${pg.escapeIdentifier(placement.database)}`).catch(
      (error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // exists already
      },
    );
    const client = await this.poolFor(placement.database, url).connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('ttm-core-schema'))`);
      await client.query(CORE_SCHEMA_SQL);
      await client.query(WARM_POOL_SQL);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private poolFor(database: string, url: string): pg.Pool {
    let pool = this.pools.get(database);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: url,
        max: this.maxConnectionsPerDatabase,
        application_name: 'ttm-provisioner',
        idleTimeoutMillis: 10_000,
      });
      pool.on('error', (error) => this.logger.warn({ err: error, database }, 'idle data-plane client failed'));
      this.pools.set(database, pool);
    }
    return pool;
  }

  private async closePool(database: string): Promise<void> {
    const pool = this.pools.get(database);
    this.pools.delete(database);
    this.prepared.delete(database);
    await pool?.end();
  }

  /** A statement that cannot run inside the target database (CREATE/DROP DATABASE). */
  private async adminQuery(placement: WorkspacePlacement, sql: string): Promise<void> {
    const cluster = this.cluster(placement.region, placement.cluster);
    const client = new pg.Client({ connectionString: withDatabase(cluster.url, 'postgres') });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}

export { databaseOf, withDatabase };
