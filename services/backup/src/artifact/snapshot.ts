import { Readable } from 'node:stream';
import { createGzip, constants as zlib } from 'node:zlib';
import type { DataPlanePool } from '@ttm/data-plane';
import { WORKSPACE_TABLES } from '@ttm/data-plane';
import type pg from 'pg';
import { inTransaction } from '../shared/transaction.js';
import type { BackupStore, StoredObject } from '../store/index.js';
import {
  CanonicalCursor,
  CORE_TABLES,
  canonicalSelect,
  coreRowsFilter,
  q,
  type TableChecksum,
  useCanonicalSession,
} from './canonicalRows.js';
import { eofLine, headerLine, tableLine } from './format.js';

export interface SnapshotRequest {
  backupId: string;
  tenantId: string;
  /** The tenant's workspace schema in the database `pool` connects to. */
  schema: string;
  objectName: string;
  batchRows: number;
  /**
   * Read at most this many rows a second (0 or absent: as fast as it goes), so a backup beside
   * tenant traffic leaves the database and the CPU to it. Migrations copy unthrottled: they
   * hold the tenant's writes.
   */
  maxRowsPerSecond?: number;
}

export interface Snapshot {
  tables: TableChecksum[];
  totalRows: number;
  uncompressedBytes: number;
  schemaVersion: number;
  /** When the snapshot was taken: every row is as it was at this instant. */
  snapshotAt: string;
  object: StoredObject;
}

const FLUSH_BYTES = 256 * 1024;
const layoutOrder = new Map(WORKSPACE_TABLES.map((t, i) => [t.name, i]));

/**
 * Back up one workspace at one instant: a single REPEATABLE READ READ ONLY transaction reads
 * the tenant's core rows and every table of its schema, so concurrent writers never show
 * half a transaction. Rows stream through gzip into the store while they are counted and
 * checksummed; nothing is buffered whole.
 */
export async function takeSnapshot(
  pool: DataPlanePool,
  request: SnapshotRequest,
  store: BackupStore,
): Promise<Snapshot> {
  return inTransaction(pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (client) => {
    // The first statement takes the snapshot; its clock says when.
    const { rows: clock } = await client.query<{ at: Date }>('SELECT clock_timestamp() AS at');
    await useCanonicalSession(client);
    const { rows: found } = await client.query<{ schema_version: number | null }>(
      `SELECT (SELECT "schemaVersion" FROM core."dataSource" WHERE "workspaceId" = w.id) AS schema_version
       FROM core.workspace w WHERE w.id = $1`,
      [request.tenantId],
    );
    if (found.length === 0) {
      throw new Error(`workspace ${request.tenantId} is not in this database's core.workspace`);
    }
    const workspaceTables = await tablesOf(client, request.schema);
    if (workspaceTables.length === 0) throw new Error(`schema ${request.schema} has no tables`);
    const snapshotAt = clock[0]!.at.toISOString();

    const tables: TableChecksum[] = [];
    let uncompressedBytes = 0;
    let totalRows = 0;
    const pace = pacer(request.maxRowsPerSecond ?? 0);
    async function* artifact(): AsyncGenerator<Buffer> {
      let parts: string[] = [];
      let size = 0;
      const take = (text: string) => {
        parts.push(text);
        size += text.length;
      };
      const drain = () => {
        const buffer = Buffer.from(parts.join(''), 'utf8');
        uncompressedBytes += buffer.length;
        parts = [];
        size = 0;
        return buffer;
      };
      take(
        headerLine({
          backupId: request.backupId,
          tenantId: request.tenantId,
          schema: request.schema,
          schemaVersion: found[0]!.schema_version ?? 0,
          snapshotAt,
        }),
      );
      const sources = [
        ...CORE_TABLES.map((name) => ({
          ref: { scope: 'core' as const, name },
          select: canonicalSelect(`core.${q(name)}`, { where: coreRowsFilter(name) }),
          params: [request.tenantId],
        })),
        ...workspaceTables.map((t) => ({
          ref: { scope: 'workspace' as const, name: t.name },
          select: canonicalSelect(`${q(request.schema)}.${q(t.name)}`, { orderById: t.hasId }),
          params: [],
        })),
      ];
      for (const source of sources) {
        take(tableLine(source.ref));
        const cursor = await CanonicalCursor.open(client, source.select, source.params, request.batchRows);
        for (let rows = await cursor.next(); rows.length > 0; rows = await cursor.next()) {
          for (const row of rows) take(`${row}\n`);
          await pace(rows.length);
          // Yield between fetches, so gzip and the store work while PostgreSQL reads on.
          if (size >= FLUSH_BYTES) yield drain();
        }
        const sum = cursor.checksum();
        tables.push({ ...source.ref, ...sum });
        totalRows += sum.rows;
      }
      take(eofLine(tables.length, totalRows));
      yield drain();
    }

    const source = Readable.from(artifact());
    const gzip = createGzip({ level: zlib.Z_BEST_SPEED });
    source.on('error', (error) => gzip.destroy(error));
    const object = await store.put(request.objectName, source.pipe(gzip));
    await client.query('COMMIT');
    return {
      tables,
      totalRows,
      uncompressedBytes,
      schemaVersion: found[0]!.schema_version ?? 0,
      snapshotAt,
      object,
    };
  });
}

/** Wait after each batch as long as it takes to stay at `rowsPerSecond` on average (0: never). */
function pacer(rowsPerSecond: number): (rows: number) => Promise<void> {
  if (rowsPerSecond <= 0) return async () => undefined;
  const started = performance.now();
  let rows = 0;
  return async (batch) => {
    rows += batch;
    const ahead = (rows / rowsPerSecond) * 1_000 - (performance.now() - started);
    if (ahead > 1) await new Promise((resolve) => setTimeout(resolve, ahead));
  };
}

/** The tables of a workspace schema: Twenty's in dependency order, then any others by name. */
async function tablesOf(client: pg.ClientBase, schema: string): Promise<{ name: string; hasId: boolean }[]> {
  const { rows } = await client.query<{ name: string; has_id: boolean }>(
    `SELECT c.relname AS name,
            EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id' AND NOT a.attisdropped) AS has_id
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
    [schema],
  );
  return rows
    .map((r) => ({ name: r.name, hasId: r.has_id }))
    .sort((a, b) => {
      const ia = layoutOrder.get(a.name) ?? Number.MAX_SAFE_INTEGER;
      const ib = layoutOrder.get(b.name) ?? Number.MAX_SAFE_INTEGER;
      return ia - ib || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
}
