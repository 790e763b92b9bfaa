import { CORE_SCHEMA_SQL } from '@ttm/data-plane';
import { type Catalog, type Cluster, databaseOf, type Logger, withDatabase } from '@ttm/service-kit';
import pg from 'pg';

/** Where a workspace lives (the `placement` of the tenant events). */
export interface WorkspacePlacement {
  region: string;
  cluster: string;
  kind: 'schema' | 'database';
  database: string;
  schema: string;
}

/**
 * The backup service's connections to the data plane: one bounded pool per database it
 * touches, opened lazily and closed at shutdown.
 */
export class ClusterPools {
  private readonly pools = new Map<string, pg.Pool>();

  constructor(
    private readonly catalog: Catalog,
    private readonly logger: Logger,
    private readonly maxConnectionsPerDatabase: number,
  ) {}

  /** The pools open now, by `<region>/<cluster>/<database>` (for the connection gauges). */
  openPools(): Iterable<readonly [string, pg.Pool]> {
    return this.pools.entries();
  }

  cluster(region: string, clusterName: string): Cluster {
    const cluster = this.catalog.region(region)?.clusters.find((c) => c.name === clusterName);
    if (!cluster) throw new Error(`cluster ${clusterName} is not configured in region ${region} (REGIONS)`);
    return cluster;
  }

  /** The pool of the placement's database. */
  poolFor(placement: Pick<WorkspacePlacement, 'region' | 'cluster' | 'database'>): pg.Pool {
    const cluster = this.cluster(placement.region, placement.cluster);
    const key = `${placement.region}/${placement.cluster}/${placement.database}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new pg.Pool({
        connectionString: withDatabase(cluster.url, placement.database),
        max: this.maxConnectionsPerDatabase,
        application_name: 'ttm-backup',
        idleTimeoutMillis: 10_000,
      });
      pool.on('error', (error) => this.logger.warn({ err: error, database: key }, 'idle data-plane client failed'));
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Where a clone of a workspace goes: a new schema in the shared database of the same cluster. */
  clonePlacement(source: WorkspacePlacement, schema: string): WorkspacePlacement {
    const cluster = this.cluster(source.region, source.cluster);
    return {
      region: source.region,
      cluster: source.cluster,
      kind: 'schema',
      database: databaseOf(cluster.url),
      schema,
    };
  }

  /** Make sure the database has the cluster's `core` tables (a clone may be the first workspace there). */
  async ensureCoreSchema(placement: WorkspacePlacement): Promise<void> {
    const client = await this.poolFor(placement).connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('ttm-core-schema'))`);
      await client.query(CORE_SCHEMA_SQL);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Close the pool of one database (before it is dropped). */
  async closePool(placement: Pick<WorkspacePlacement, 'region' | 'cluster' | 'database'>): Promise<void> {
    const key = `${placement.region}/${placement.cluster}/${placement.database}`;
    const pool = this.pools.get(key);
    this.pools.delete(key);
    await pool?.end();
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end()));
  }
}

export { databaseOf, withDatabase };
