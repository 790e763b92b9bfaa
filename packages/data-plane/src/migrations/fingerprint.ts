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
 * over pg_catalog for all the schemas of a database, grouped by schema.
 *
 * Indexes and constraints are described from their catalog rows (access method, key column
 * names, operator classes, options) and column defaults as their stored node trees with the
 * parse positions removed, rather than by `pg_get_indexdef`, `pg_get_constraintdef` and
 * `pg_get_expr` on every one: those open the table's or index's relation, which a new
 * connection has to load (about 0.5 ms each), and that was most of the 20 s a database of 1,000
 * workspaces (11,000 tables, 17,000 indexes) took. Defaults cannot refer to columns, and their
 * trees name types and functions by oid, the same for every schema of a database. Index
 * expressions and predicates and check constraints do refer to columns by number, which a
 * dropped and re-added column changes, so only those few are deparsed. A table referenced by a
 * foreign key is named (unqualified when it is the schema's own).
 */
const FINGERPRINT_SQL = `
WITH s AS (
  SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY($1::text[])
), rel AS (
  SELECT s.nspname, s.oid AS nsp, c.oid, c.relname
    FROM s JOIN pg_class c ON c.relnamespace = s.oid AND c.relkind IN ('r', 'p')
), lines AS (
  SELECT nspname, 'table ' || relname AS line FROM rel
  UNION ALL
  SELECT r.nspname, 'column ' || r.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || regexp_replace(d.adbin::text, ' :location -?[0-9]+', '', 'g'), '')
         || ' #' || rank() OVER (PARTITION BY r.oid ORDER BY a.attnum)
    FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
  UNION ALL
  SELECT r.nspname, 'index ' || ic.relname || ' on ' || r.relname || ' using ' || am.amname
         || CASE WHEN i.indisprimary THEN ' primary' WHEN i.indisunique THEN ' unique' ELSE '' END
         || ' (' || coalesce((SELECT string_agg(coalesce(a.attname, '#' || k.n), ',' ORDER BY k.o)
                                FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                                LEFT JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = k.n), '') || ')'
         || ' classes ' || i.indclass::text || ' options ' || i.indoption::text
         || ' collations ' || i.indcollation::text
         || CASE WHEN i.indexprs IS NULL THEN '' ELSE ' expressions ' || pg_get_expr(i.indexprs, i.indrelid) END
         || CASE WHEN i.indpred IS NULL THEN '' ELSE ' where ' || pg_get_expr(i.indpred, i.indrelid) END
    FROM rel r JOIN pg_index i ON i.indrelid = r.oid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
  UNION ALL
  SELECT r.nspname, 'constraint ' || r.relname || '.' || k.conname || ' ' || k.contype::text
         || ' (' || coalesce((SELECT string_agg(a.attname, ',' ORDER BY k2.o)
                                FROM unnest(k.conkey) WITH ORDINALITY k2(n, o)
                                JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = k2.n), '') || ')'
         || CASE WHEN k.contype = 'f' THEN ' references '
                   || CASE WHEN f.relnamespace = r.nsp THEN f.relname ELSE quote_ident(fn.nspname) || '.' || f.relname END
                   || ' (' || coalesce((SELECT string_agg(a.attname, ',' ORDER BY k2.o)
                                          FROM unnest(k.confkey) WITH ORDINALITY k2(n, o)
                                          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = k2.n), '') || ') ' || k.confupdtype::text || k.confdeltype::text || k.confmatchtype::text
                 ELSE '' END
         || CASE WHEN k.condeferrable THEN ' deferrable' ELSE '' END
         || CASE WHEN k.condeferred THEN ' deferred' ELSE '' END
         || CASE WHEN k.conbin IS NULL THEN '' ELSE ' check ' || pg_get_expr(k.conbin, k.conrelid) END
    FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
    LEFT JOIN pg_class f ON f.oid = k.confrelid
    LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace
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
