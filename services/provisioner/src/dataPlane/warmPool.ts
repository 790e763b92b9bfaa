import { randomBytes } from 'node:crypto';
import { type DataPlanePool, inTransaction, WORKSPACE_SCHEMA_VERSION, workspaceSchemaSql } from '@ttm/data-plane';
import type { Logger } from '@ttm/service-kit';
import pg from 'pg';

/**
 * Warm workspace schemas: creating a workspace's tables costs ~20 ms of catalog work in
 * PostgreSQL, the largest part of provisioning. The pool does that work ahead of time, in
 * idle moments, so a registration only renames a ready schema (a catalog update of one row)
 * in the same transaction that writes its core rows. An empty pool falls back to creating
 * the tables on the spot, so the pool only ever makes provisioning faster.
 */
export const WARM_POOL_SQL = `
CREATE SCHEMA IF NOT EXISTS ttm_internal;
CREATE TABLE IF NOT EXISTS ttm_internal.warm_schemas (
  name text PRIMARY KEY,
  version integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);`;

/** Take one warm schema of the current version inside the caller's transaction, or undefined. */
export async function claimWarmSchema(client: pg.PoolClient): Promise<string | undefined> {
  const { rows } = await client.query<{ name: string }>(
    `DELETE FROM ttm_internal.warm_schemas
      WHERE name = (SELECT name FROM ttm_internal.warm_schemas WHERE version = $1
                     ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING name`,
    [WORKSPACE_SCHEMA_VERSION],
  );
  return rows[0]?.name;
}

export interface WarmPoolOptions {
  /** Warm schemas kept ready in each shared cluster database (0 turns the pool off). */
  size: number;
  /** True while registrations are being provisioned: refilling then waits. */
  busy: () => boolean;
  logger: Logger;
}

/** Keeps one database's pool full, one schema at a time, only while provisioning is idle. */
export class WarmPoolFiller {
  private timer: NodeJS.Timeout | undefined;
  private filling = false;
  private stopped = false;

  constructor(
    private readonly pool: DataPlanePool,
    readonly database: string,
    private readonly options: WarmPoolOptions,
  ) {}

  start(intervalMs = 100): void {
    if (this.options.size <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Drop warm schemas this build no longer hands out, then add warm schemas until the pool is full; returns how many were added. */
  async fill(max = Number.POSITIVE_INFINITY): Promise<number> {
    while (!this.stopped && (await this.dropStale())) {}
    let added = 0;
    while (added < max && !this.stopped && (await this.count()) < this.options.size) {
      await this.addOne();
      added++;
    }
    return added;
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM ttm_internal.warm_schemas WHERE version = $1',
      [WORKSPACE_SCHEMA_VERSION],
    );
    return rows[0]?.n ?? 0;
  }

  private async tick(): Promise<void> {
    if (this.filling || this.stopped || this.options.busy()) return;
    this.filling = true;
    try {
      await this.fill(1);
    } catch (error) {
      this.options.logger.warn({ err: error, database: this.database }, 'warm schema pool refill failed');
    } finally {
      this.filling = false;
    }
  }

  /**
   * Drop one warm schema of another schema version (left by the build before an upgrade);
   * empty, it is cheaper to make a new one than to upgrade it. False when none is left.
   */
  async dropStale(): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ name: string }>(
        `DELETE FROM ttm_internal.warm_schemas
          WHERE name = (SELECT name FROM ttm_internal.warm_schemas WHERE version <> $1
                         LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING name`,
        [WORKSPACE_SCHEMA_VERSION],
      );
      const stale = rows[0]?.name;
      if (stale) await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(stale)} CASCADE`);
      return stale !== undefined;
    });
  }

  private async addOne(): Promise<void> {
    const name = `ttm_warm_${randomBytes(8).toString('hex')}`;
    await inTransaction(this.pool, async (client) => {
      await client.query(workspaceSchemaSql(name));
      await client.query('INSERT INTO ttm_internal.warm_schemas (name, version) VALUES ($1, $2)', [
        name,
        WORKSPACE_SCHEMA_VERSION,
      ]);
    });
  }
}
