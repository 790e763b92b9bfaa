import { inTransaction } from '@ttm/service-kit';
import type pg from 'pg';
import { ensureCoreSchema } from './coreSchema.js';
import type { DataPlanePool } from './dataPlanePools.js';
import { runPipeline, type Statement } from './pipeline.js';

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

/**
 * The gate as one statement, for writes sent in one round trip (`tenantWrite`): take the lock
 * shared, then look for the freeze in a statement of its own (a VOLATILE function's statements
 * each take a new snapshot, so it sees a freeze committed while the lock was awaited) and raise
 * `WRITES_CLOSED_SQLSTATE` with the freeze as JSON in DETAIL. Created once per database, with
 * the table (`ensureCoreSchema`), or by the first write that finds it missing.
 */
export const WRITE_GATE_FUNCTION_SQL = `
DO $create$ BEGIN
  IF to_regprocedure('core.ttm_pass_write_gate(text)') IS NULL THEN
    CREATE FUNCTION core.ttm_pass_write_gate(tenant text) RETURNS void LANGUAGE plpgsql VOLATILE AS $gate$
    DECLARE
      closed core."writeFreeze";
    BEGIN
      PERFORM pg_advisory_xact_lock_shared(hashtext('ttm-tenant-writes:' || tenant));
      SELECT * INTO closed FROM core."writeFreeze" WHERE "workspaceId" = tenant::uuid;
      IF FOUND THEN
        RAISE EXCEPTION 'writes of tenant % are closed by operation %', tenant, closed."operationId"
          USING ERRCODE = 'TTMWC',
                DETAIL = json_build_object('operationId', closed."operationId", 'reason', closed.reason,
                  'since', closed.since, 'retryAfterS', closed."retryAfterS")::text;
      END IF;
    END $gate$;
  END IF;
END $create$;
`;

/** The SQLSTATE `core.ttm_pass_write_gate` raises when the tenant's writes are closed. */
export const WRITES_CLOSED_SQLSTATE = 'TTMWC';

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

/** A write refused at the database by the tenant's closed gate (the pipeline was rolled back). */
export class TenantWritesClosed extends Error {
  constructor(readonly gate: ClosedGate) {
    super(`the tenant's writes are closed by operation ${gate.operationId} (${gate.reason})`);
    this.name = 'TenantWritesClosed';
  }
}

/** Databases known to have `core.ttm_pass_write_gate`. */
const gateFunctions = new WeakSet<object>();

/**
 * One tenant write statement behind the tenant's write gate, in ONE round trip: the gate and the
 * statement as a pipeline (`runPipeline`), one implicit transaction. Resolves with the
 * statement's result; rejects with `TenantWritesClosed` when a migration has closed the gate
 * (nothing written). The guarantee is `beginTenantWrite`'s: once `closeTenantWrites` returns, no
 * write lands. A database that lacks the gate's function gets it first (once per process).
 */
export async function tenantWrite<R extends pg.QueryResultRow = pg.QueryResultRow>(
  pool: DataPlanePool,
  tenantId: string,
  statement: Statement,
): Promise<pg.QueryResult<R>> {
  if (!gateFunctions.has(pool)) {
    const { rows } = await pool.query<{ present: boolean }>(
      `SELECT to_regprocedure('core.ttm_pass_write_gate(text)') IS NOT NULL AS present`,
    );
    if (!rows[0]?.present) await ensureCoreSchema(pool);
    gateFunctions.add(pool);
  }
  const client = await pool.connect();
  try {
    const results = await runPipeline(client, [
      { text: 'SELECT core.ttm_pass_write_gate($1)', values: [tenantId] },
      statement,
    ]);
    client.release();
    return results[1] as pg.QueryResult<R>;
  } catch (error) {
    const failure = error as { code?: unknown; detail?: string };
    client.release(failure.code === undefined ? (error as Error) : undefined);
    if (failure.code === WRITES_CLOSED_SQLSTATE && failure.detail) {
      const gate = JSON.parse(failure.detail) as {
        operationId: string;
        reason: string;
        since: string;
        retryAfterS: number;
      };
      throw new TenantWritesClosed({ ...gate, since: new Date(gate.since) });
    }
    throw error;
  }
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
