import { inTransaction } from '@ttm/service-kit';
import type { DataPlanePool } from './dataPlanePools.js';
import { CORE_SCHEMA_SQL } from './twentyLayout.js';
import { WRITE_FREEZE_SQL, WRITE_GATE_FUNCTION_SQL } from './writeGate.js';

/**
 * Make sure a data-plane database has Twenty's `core` tables (idempotent), with whatever else
 * the caller keeps there (`extraSql`) and the tenant write gate's table, serialised across processes by an advisory lock.
 */
export async function ensureCoreSchema(pool: DataPlanePool, extraSql = ''): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('ttm-core-schema'))`);
    await client.query(CORE_SCHEMA_SQL);
    await client.query(WRITE_FREEZE_SQL);
    await client.query(WRITE_GATE_FUNCTION_SQL);
    if (extraSql) await client.query(extraSql);
  });
}
