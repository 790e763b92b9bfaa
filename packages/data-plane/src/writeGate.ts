import { inTransaction } from '@ttm/service-kit';
import type pg from 'pg';
import { ensureCoreSchema } from './coreSchema.js';
import type { DataPlanePool } from './dataPlanePools.js';

/**
 * The tenant write gate, kept in the tenant's own database so the database itself refuses a
 * write that would land after a migration took its snapshot (the KV freeze gateways watch is
 * asynchronous; this is not).
 *
 * - Every tenant write transaction first takes the tenant's gate lock SHARED (writers never wait
 *   for one another), then looks for the tenant's row in `core."writeFreeze"`
 *   (`holdTenantWrites`).
 * - A migration closes the gate (`closeTenantWrites`): it takes the same lock EXCLUSIVE, which
 *   waits until every write transaction already past the gate has committed or rolled back, and
 *   inserts the row in that transaction. Any write that starts later waits for that commit and
 *   then sees the row. So once `closeTenantWrites` returns, no write can land on that database.
 *
 * The row stays at a migration's source after the switch (a gateway still routing there is
 * refused) and goes with the tenant's rows when the source is removed.
 */
export const WRITE_FREEZE_SQL = `
CREATE TABLE IF NOT EXISTS core."writeFreeze" (
  "workspaceId" uuid PRIMARY KEY,
  "operationId" text NOT NULL,
  reason text NOT NULL,
  since timestamptz NOT NULL,
  "retryAfterS" integer NOT NULL
);
`;

/** Why a tenant's writes are refused at its database. */
export interface ClosedGate {
  operationId: string;
  reason: string;
  since: Date;
  retryAfterS: number;
}

const gateKey = (tenantId: string) => `ttm-tenant-writes:${tenantId}`;

/** Databases known to have `core."writeFreeze"` (a table is never dropped). */
const gated = new WeakSet<object>();

/**
 * Pass the tenant's write gate inside the caller's open transaction: hold the gate lock shared
 * until it ends, and answer the freeze that refuses the write, if any (the caller must then
 * roll back). A database made before the gate existed has no table, and no freeze to find.
 */
export async function holdTenantWrites(
  client: pg.ClientBase,
  tenantId: string,
  database: object = client,
): Promise<ClosedGate | undefined> {
  await client.query('SELECT pg_advisory_xact_lock_shared(hashtext($1))', [gateKey(tenantId)]);
  // A new statement after the lock: its snapshot sees a freeze committed while this one waited.
  const sql = `SELECT "operationId", reason, since, "retryAfterS" FROM core."writeFreeze" WHERE "workspaceId" = $1`;
  if (gated.has(database)) return (await client.query<ClosedGate>(sql, [tenantId])).rows[0];
  await client.query('SAVEPOINT ttm_write_gate');
  try {
    const { rows } = await client.query<ClosedGate>(sql, [tenantId]);
    await client.query('RELEASE SAVEPOINT ttm_write_gate');
    gated.add(database);
    return rows[0];
  } catch (error) {
    if ((error as { code?: string }).code !== '42P01') throw error;
    await client.query('ROLLBACK TO SAVEPOINT ttm_write_gate');
    return undefined;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Open a tenant write transaction on `client` and pass the tenant's write gate, as
 * `BEGIN` + `holdTenantWrites` do, in ONE round trip once the database is known to have the
 * gate's table: `BEGIN; lock; look for the freeze` as one simple-query message. Each statement
 * of that message takes its own snapshot (READ COMMITTED), so the look after the lock sees a
 * freeze committed while the lock was awaited, exactly as two separate statements would.
 * The caller ends the transaction (COMMIT, or ROLLBACK when a freeze is answered or on error).
 */
export async function beginTenantWrite(
  client: pg.ClientBase,
  tenantId: string,
  database: object = client,
): Promise<ClosedGate | undefined> {
  if (!gated.has(database) || !UUID.test(tenantId)) {
    await client.query('BEGIN');
    return holdTenantWrites(client, tenantId, database);
  }
  // The tenant id is a uuid (checked above): a literal of it cannot break out of the quotes.
  const results = (await client.query(
    `BEGIN; SELECT pg_advisory_xact_lock_shared(hashtext('${gateKey(tenantId)}'));
     SELECT "operationId", reason, since, "retryAfterS" FROM core."writeFreeze" WHERE "workspaceId" = '${tenantId}'`,
  )) as unknown as pg.QueryResult<ClosedGate>[];
  return results[2]?.rows[0];
}

/**
 * Close the tenant's write gate at this database for `operationId` (idempotent): returns once
 * every write that passed the gate has ended; none passes after.
 */
export async function closeTenantWrites(
  pool: DataPlanePool,
  tenantId: string,
  freeze: { operationId: string; reason: string; retryAfterS: number },
): Promise<void> {
  await ensureCoreSchema(pool);
  await inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [gateKey(tenantId)]);
    await client.query(
      `INSERT INTO core."writeFreeze" ("workspaceId", "operationId", reason, since, "retryAfterS")
       VALUES ($1, $2, $3, now(), $4)
       ON CONFLICT ("workspaceId") DO UPDATE SET "operationId" = EXCLUDED."operationId", reason = EXCLUDED.reason,
         since = EXCLUDED.since, "retryAfterS" = EXCLUDED."retryAfterS"
       WHERE core."writeFreeze"."operationId" <> EXCLUDED."operationId"`,
      [tenantId, freeze.operationId, freeze.reason, freeze.retryAfterS],
    );
  });
}

/** Open the tenant's write gate at this database if `operationId` closed it; true if it was closed by it. */
export async function openTenantWrites(pool: DataPlanePool, tenantId: string, operationId: string): Promise<boolean> {
  try {
    const { rowCount } = await pool.query(
      `DELETE FROM core."writeFreeze" WHERE "workspaceId" = $1 AND "operationId" = $2`,
      [tenantId, operationId],
    );
    return (rowCount ?? 0) > 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    // No table (never closed here) or no database (a dedicated one, removed): nothing is closed.
    if (code === '42P01' || code === '3D000') return false;
    throw error;
  }
}

/** Forget the tenant's gate at this database, inside a transaction that removes its rows. */
export async function dropTenantWriteGate(client: pg.ClientBase, tenantId: string): Promise<void> {
  const { rows } = await client.query<{ present: boolean }>(
    `SELECT to_regclass('core."writeFreeze"') IS NOT NULL AS present`,
  );
  if (rows[0]?.present) await client.query(`DELETE FROM core."writeFreeze" WHERE "workspaceId" = $1`, [tenantId]);
}
