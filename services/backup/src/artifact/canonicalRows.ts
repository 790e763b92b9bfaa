import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * The canonical encoding of a row, shared by backup, verification and restore checks: its
 * `row_to_json` text (columns in table order) in a session pinned to UTC and shortest exact
 * floats, rows in primary-key order. A table's checksum is the sha256 of its rows' encodings,
 * each followed by a newline. The same rows in a table with the same columns always give the
 * same checksum, in any database of any cluster.
 */
export async function useCanonicalSession(client: pg.ClientBase): Promise<void> {
  await client.query(
    `SET LOCAL TimeZone TO 'UTC'; SET LOCAL extra_float_digits TO 1; SET LOCAL bytea_output TO 'hex';
     SET LOCAL IntervalStyle TO 'iso_8601'; SET LOCAL DateStyle TO 'ISO, YMD'`,
  );
}

export type TableScope = 'workspace' | 'core';

export interface TableRef {
  scope: TableScope;
  name: string;
}

export interface TableChecksum extends TableRef {
  rows: number;
  sha256: string;
}

/** The tenant's share of the cluster's `core` tables, in the order they are restored. */
export const CORE_TABLES = ['workspace', 'user', 'userWorkspace', 'role', 'roleTarget', 'dataSource'] as const;
export type CoreTable = (typeof CORE_TABLES)[number];

/** `WHERE` clause picking the tenant's rows of a core table (`$1` is the workspace id). */
export function coreRowsFilter(table: string): string {
  switch (table) {
    case 'workspace':
      return 't.id = $1';
    case 'user':
      return `t.id IN (SELECT "userId" FROM core."userWorkspace" WHERE "workspaceId" = $1)`;
    default:
      return `t."workspaceId" = $1`;
  }
}

export const q = (name: string) => pg.escapeIdentifier(name);

/** The SELECT of a table's canonical rows: one text column `r`. */
export function canonicalSelect(from: string, options: { where?: string; orderById?: boolean } = {}): string {
  const where = options.where ? ` WHERE ${options.where}` : '';
  const order = options.orderById === false ? '1 COLLATE "C"' : 't.id';
  return `SELECT row_to_json(t)::text AS r FROM ${from} t${where} ORDER BY ${order}`;
}

let cursorCount = 0;

/**
 * A canonical SELECT read through a cursor, `batchRows` at a time, inside the caller's
 * transaction, counting and checksumming the rows as they pass.
 */
export class CanonicalCursor {
  private readonly name = `ttm_rows_${++cursorCount}`;
  private readonly hash = createHash('sha256');
  private count = 0;
  private done = false;

  private constructor(
    private readonly client: pg.ClientBase,
    private readonly batchRows: number,
  ) {}

  static async open(client: pg.ClientBase, select: string, params: unknown[], batchRows: number) {
    const cursor = new CanonicalCursor(client, batchRows);
    await client.query(`DECLARE ${cursor.name} NO SCROLL CURSOR FOR ${select}`, params);
    return cursor;
  }

  /** The next batch of encoded rows; empty once the rows are all read (the cursor is then closed). */
  async next(): Promise<string[]> {
    if (this.done) return [];
    const batch = await this.client.query<[string]>({
      text: `FETCH FORWARD ${this.batchRows} FROM ${this.name}`,
      rowMode: 'array',
    });
    const texts = batch.rows.map((row) => row[0]);
    for (const text of texts) {
      this.hash.update(text);
      this.hash.update('\n');
    }
    this.count += texts.length;
    if (texts.length < this.batchRows) {
      this.done = true;
      await this.client.query(`CLOSE ${this.name}`);
    }
    return texts;
  }

  /** Count and checksum of the rows read; call once `next()` came back empty. */
  checksum(): { rows: number; sha256: string } {
    return { rows: this.count, sha256: this.hash.copy().digest('hex') };
  }
}

/** Count and checksum every row of a canonical SELECT. */
export async function checksumOf(
  client: pg.ClientBase,
  select: string,
  params: unknown[],
  batchRows: number,
): Promise<{ rows: number; sha256: string }> {
  const cursor = await CanonicalCursor.open(client, select, params, batchRows);
  while ((await cursor.next()).length > 0);
  return cursor.checksum();
}

/** Load encoded rows into a table whose columns match theirs. */
export async function insertRows(
  client: pg.ClientBase,
  table: string,
  rows: readonly string[],
  options: { onConflict?: string } = {},
): Promise<void> {
  if (rows.length === 0) return;
  const conflict = options.onConflict ? ` ON CONFLICT ${options.onConflict}` : '';
  await client.query(
    `INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)${conflict}`,
    [`[${rows.join(',')}]`],
  );
}
