import pg from 'pg';
import { inTransaction } from '../postgres.js';
import type { ProjectionDefinition } from './projectionRunner.js';

/** Where each projection of a service keeps the last stream sequence it applied. */
export function checkpointTable(schema: string): string {
  return `${pg.escapeIdentifier(schema)}.projection_checkpoints`;
}

/** Create `<schema>.projection_checkpoints` if missing; safe when several instances start at once. */
export async function ensureCheckpointTable(pool: pg.Pool, schema: string): Promise<void> {
  await inTransaction(pool, async (client) => {
    // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog: serialise them.
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ttm.projection_checkpoints.${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${checkpointTable(schema)} (
         projection text PRIMARY KEY,
         last_seq bigint NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
  });
}

/** The last stream sequence a projection applied (0: none). */
export async function readCheckpoint(pool: pg.Pool, projection: ProjectionDefinition): Promise<number> {
  const { rows } = await pool.query<{ last_seq: string }>(
    `SELECT last_seq FROM ${checkpointTable(projection.schema)} WHERE projection = $1`,
    [projection.name],
  );
  return Number(rows[0]?.last_seq ?? 0);
}
