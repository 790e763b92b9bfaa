import type pg from 'pg';
import { isTransientDatabaseError } from '../postgres.js';

/**
 * The one connection through which an instance applies a projection, holding the
 * projection's PostgreSQL session advisory lock. Only the holder pulls: a projection
 * applies its events in batches, and two instances pulling side by side could commit a
 * later batch before an earlier one. Writing through the locked connection itself means
 * no instance ever commits without holding the lock: when the connection dies, the lock
 * goes with it and the transaction fails.
 */
export class ProjectionLead {
  private held: pg.PoolClient | undefined;

  constructor(
    private readonly pool: pg.Pool,
    /** Two int4 keys: a namespace for projections, then the projection. */
    private readonly key: string,
  ) {}

  /** The locked connection; throws when the lead is not held (a programming error). */
  get client(): pg.PoolClient {
    if (!this.held) throw new Error(`the lead of projection ${this.key} is not held`);
    return this.held;
  }

  /** Take the lock if no other instance holds it; false when one does. Transient errors are thrown. */
  async tryTake(): Promise<boolean> {
    if (this.held) return true;
    const client = await this.pool.connect();
    try {
      const { rows } = await client.query<{ taken: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext('ttm.projection'), hashtext($1)) AS taken",
        [this.key],
      );
      if (rows[0]?.taken) {
        this.held = client;
        return true;
      }
      client.release();
      return false;
    } catch (error) {
      client.release(isTransientDatabaseError(error) ? (error as Error) : undefined);
      throw error;
    }
  }

  /** Give the lock and the connection back; a broken connection is closed instead (which drops the lock). */
  async release(broken?: Error): Promise<void> {
    const client = this.held;
    this.held = undefined;
    if (!client) return;
    if (broken) {
      client.release(broken);
      return;
    }
    try {
      await client.query("SELECT pg_advisory_unlock(hashtext('ttm.projection'), hashtext($1))", [this.key]);
      client.release();
    } catch (error) {
      client.release(error as Error);
    }
  }
}
