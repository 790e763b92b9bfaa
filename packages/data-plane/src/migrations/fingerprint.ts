import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { DataPlanePool } from '../dataPlanePools.js';
import { OLDEST_SUPPORTED_SCHEMA_VERSION, WORKSPACE_SCHEMA_VERSION, workspaceSchemaSql } from '../twentyLayout.js';

/** A client or a pool: anything with pg's `query(text, values)`. */
type Queryable = Pick<DataPlanePool, 'query'>;

/**
 * One line per table, column (type, nullability, default, in column order), index and
 * constraint of each schema, with the schema's own name taken out so two workspaces compare
 * equal; the fingerprint is the md5 of those lines sorted. Computed by PostgreSQL in one pass
 * over the catalog, so a database with thousands of workspaces answers in one query.
 */
const FINGERPRINT_SQL = `
WITH s AS (
  SELECT oid, nspname, quote_ident(nspname) || '.' AS qualified, nspname || '.' AS plain
    FROM pg_namespace WHERE nspname = ANY($1::text[])
), lines AS (
  SELECT s.nspname, 'table ' || c.relname AS line
    FROM s JOIN pg_class c ON c.relnamespace = s.oid AND c.relkind IN ('r', 'p')
  UNION ALL
  SELECT s.nspname, 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
         || ' #' || rank() OVER (PARTITION BY c.oid ORDER BY a.attnum)
    FROM s JOIN pg_class c ON c.relnamespace = s.oid AND c.relkind IN ('r', 'p')
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
  UNION ALL
  SELECT s.nspname, 'index ' || replace(replace(pg_get_indexdef(i.indexrelid), s.qualified, ''), s.plain, '')
    FROM s JOIN pg_class c ON c.relnamespace = s.oid AND c.relkind IN ('r', 'p')
    JOIN pg_index i ON i.indrelid = c.oid
  UNION ALL
  SELECT s.nspname, 'constraint ' || c.relname || '.' || k.conname || ' '
         || replace(replace(pg_get_constraintdef(k.oid), s.qualified, ''), s.plain, '')
    FROM s JOIN pg_class c ON c.relnamespace = s.oid AND c.relkind IN ('r', 'p')
    JOIN pg_constraint k ON k.conrelid = c.oid
)
SELECT nspname AS schema, md5(string_agg(line, E'\\n' ORDER BY line)) AS fingerprint, count(*)::int AS lines
  FROM lines GROUP BY nspname`;

/** The fingerprint of each named schema that exists (absent schemas are left out of the map). */
export async function schemaFingerprints(db: Queryable, schemas: readonly string[]): Promise<Map<string, string>> {
  if (schemas.length === 0) return new Map();
  const { rows } = await db.query<{ schema: string; fingerprint: string }>(FINGERPRINT_SQL, [schemas]);
  return new Map(rows.map((r) => [r.schema, r.fingerprint]));
}

/** The schema lines themselves, for showing what differs (same query, not hashed). */
export async function schemaLines(db: Queryable, schema: string): Promise<string[]> {
  const sql = FINGERPRINT_SQL.replace(/SELECT nspname AS schema, md5[\s\S]*$/, 'SELECT line FROM lines ORDER BY line');
  const { rows } = await db.query<{ line: string }>(sql, [[schema]]);
  return rows.map((r) => r.line);
}

/**
 * The reference fingerprint of every version this build creates: each version's schema is
 * created from the layout in a transaction that is rolled back, so nothing is left behind.
 */
export async function referenceFingerprints(client: pg.ClientBase): Promise<Map<number, string>> {
  const references = new Map<number, string>();
  for (let version = OLDEST_SUPPORTED_SCHEMA_VERSION; version <= WORKSPACE_SCHEMA_VERSION; version++) {
    const scratch = `ttm_reference_${version}_${createHash('md5').update(String(Math.random())).digest('hex').slice(0, 8)}`;
    await client.query('BEGIN');
    try {
      await client.query(workspaceSchemaSql(scratch, version));
      const found = await schemaFingerprints(client, [scratch]);
      const fingerprint = found.get(scratch);
      if (!fingerprint) throw new Error(`the reference schema of version ${version} was not created`);
      references.set(version, fingerprint);
    } finally {
      await client.query('ROLLBACK');
    }
  }
  return references;
}
