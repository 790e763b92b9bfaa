import pg from 'pg';
import { qualified, type Workspace, writeOnce } from '../dataPlane/workspace.js';

/**
 * A standard Twenty object's table as the tenant API may touch it: the table name and the
 * columns a client may read, write and filter on. These come from the code (the allow-list in
 * records/objects.ts), never from a request; every identifier is quoted and every value is a
 * parameter.
 */
export interface RecordTable {
  table: string;
  /** Writable columns, besides the system columns `id`, `createdAt`, `updatedAt`, `deletedAt`. */
  columns: readonly string[];
}

/** A row as selected: the system columns, the table's columns, and the page cursor's timestamp as text. */
export type RecordRow = Record<string, unknown> & { id: string; createdAt: Date; updatedAt: Date; _cursorAt: string };

/** Keyset position: the last row of a page, by ("createdAt", id). The timestamp stays text so microseconds survive. */
export interface RecordPosition {
  createdAt: string;
  id: string;
}

export interface ListOptions {
  /** Equality filters, column → value; columns must be in the table's allow-list. */
  filters: Record<string, unknown>;
  limit: number;
  after?: RecordPosition | undefined;
}

const quote = pg.escapeIdentifier;

function selectList(table: RecordTable): string {
  return [
    'id',
    '"createdAt"',
    '"updatedAt"',
    ...table.columns.map((c) => quote(c)),
    `to_char("createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "_cursorAt"`,
  ].join(', ');
}

function checkColumns(table: RecordTable, columns: string[]): void {
  for (const column of columns) {
    if (!table.columns.includes(column))
      throw new Error(`column "${column}" is not in the allow-list of ${table.table}`);
  }
}

/** A page of live (not soft-deleted) records in ("createdAt", id) order; one more than `limit` tells a next page exists. */
export async function listRecords(
  workspace: Workspace,
  table: RecordTable,
  options: ListOptions,
): Promise<RecordRow[]> {
  const filters = Object.entries(options.filters).filter(([, value]) => value !== undefined);
  checkColumns(
    table,
    filters.map(([column]) => column),
  );
  const values: unknown[] = [];
  const where = ['"deletedAt" IS NULL'];
  for (const [column, value] of filters) {
    values.push(value);
    where.push(`${quote(column)} = $${values.length}`);
  }
  if (options.after) {
    values.push(options.after.createdAt, options.after.id);
    where.push(`("createdAt", id) > ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
  }
  values.push(options.limit + 1);
  const { rows } = await workspace.pool.query<RecordRow>(
    `SELECT ${selectList(table)} FROM ${qualified(workspace, table.table)}
      WHERE ${where.join(' AND ')} ORDER BY "createdAt", id LIMIT $${values.length}`,
    values,
  );
  return rows;
}

export async function getRecord(
  workspace: Workspace,
  table: RecordTable,
  recordId: string,
): Promise<RecordRow | undefined> {
  const { rows } = await workspace.pool.query<RecordRow>(selectById(workspace, table), [recordId]);
  return rows[0];
}

function selectById(workspace: Workspace, table: RecordTable): string {
  return `SELECT ${selectList(table)} FROM ${qualified(workspace, table.table)} WHERE id = $1 AND "deletedAt" IS NULL`;
}

/**
 * Insert a record. With `id` (derived from an Idempotency-Key), a second insert of the same id
 * inserts nothing and answers the record the first one made.
 */
export async function createRecord(
  workspace: Workspace,
  table: RecordTable,
  values: Record<string, unknown>,
  id?: string,
): Promise<RecordRow | undefined> {
  const entries = Object.entries(values).filter(([, value]) => value !== undefined);
  checkColumns(
    table,
    entries.map(([column]) => column),
  );
  if (id !== undefined) entries.unshift(['id', id]);
  const target = qualified(workspace, table.table);
  const sql =
    entries.length === 0
      ? `INSERT INTO ${target} DEFAULT VALUES RETURNING ${selectList(table)}`
      : `INSERT INTO ${target} (${entries.map(([c]) => quote(c)).join(', ')})
         VALUES (${entries.map((_, i) => `$${i + 1}`).join(', ')})
         ${id === undefined ? '' : 'ON CONFLICT (id) DO NOTHING'} RETURNING ${selectList(table)}`;
  const { rows } = await writeOnce<RecordRow>(
    workspace,
    sql,
    entries.map(([, value]) => value),
  );
  if (rows[0] || id === undefined) return rows[0];
  // The same id was inserted before (ON CONFLICT waited for that insert to commit): answer it.
  return getRecord(workspace, table, id);
}

/** Set the given columns of a live record; undefined when there is none with this id. */
export async function updateRecord(
  workspace: Workspace,
  table: RecordTable,
  recordId: string,
  values: Record<string, unknown>,
): Promise<RecordRow | undefined> {
  const entries = Object.entries(values).filter(([, value]) => value !== undefined);
  checkColumns(
    table,
    entries.map(([column]) => column),
  );
  const sets = [...entries.map(([column], i) => `${quote(column)} = $${i + 2}`), '"updatedAt" = now()'];
  const { rows } = await writeOnce<RecordRow>(
    workspace,
    `UPDATE ${qualified(workspace, table.table)} SET ${sets.join(', ')}
      WHERE id = $1 AND "deletedAt" IS NULL RETURNING ${selectList(table)}`,
    [recordId, ...entries.map(([, value]) => value)],
  );
  return rows[0];
}

/** Soft delete, as Twenty does (`deletedAt`); false when there is no live record with this id. */
export async function softDeleteRecord(workspace: Workspace, table: RecordTable, recordId: string): Promise<boolean> {
  const { rowCount } = await writeOnce(
    workspace,
    `UPDATE ${qualified(workspace, table.table)} SET "deletedAt" = now(), "updatedAt" = now()
      WHERE id = $1 AND "deletedAt" IS NULL`,
    [recordId],
  );
  return (rowCount ?? 0) > 0;
}
