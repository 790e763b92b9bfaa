import type { DataPlanePool } from '@ttm/data-plane';
import type pg from 'pg';

/**
 * Run `work` on one client of `pool` inside a transaction opened with `begin` (`work` ends it).
 * On an error the transaction is rolled back and the client goes away rather than back to the
 * pool (it may have failed mid-cursor).
 */
export async function inTransaction<T>(
  pool: DataPlanePool,
  begin: string,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    return await work(client);
  } catch (error) {
    broken = error as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release(broken);
  }
}
