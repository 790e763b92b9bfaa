import type { Readable } from 'node:stream';
import type { MigrationTableCheck } from '@ttm/contracts';
import {
  type DataPlanePool,
  type DataPlanePools,
  dropTenantWriteGate,
  ensureCoreSchema,
  type Placement,
  schemaVersionOf,
  withDatabase,
  workspaceSchemaSql,
} from '@ttm/data-plane';
import type pg from 'pg';
import {
  CORE_TABLES,
  canonicalSelect,
  checksumOf,
  coreRowsFilter,
  insertRows,
  q,
  type TableChecksum,
  useCanonicalSession,
} from '../artifact/canonicalRows.js';
import { loadArtifact } from '../artifact/load.js';
import { takeSnapshot } from '../artifact/snapshot.js';
import { compareChecksums } from '../artifact/verifyArtifact.js';
import { inTransaction } from '../shared/transaction.js';
import type { BackupStore, StoredObject } from '../store/index.js';

/** The connection URL of a placement's database, to tell two placements on one database apart. */
export function databaseUrlOf(clusters: DataPlanePools, placement: Placement): string {
  const cluster = clusters.cluster(placement.region, placement.cluster);
  const url = new URL(withDatabase(cluster.url, placement.database));
  return `${url.hostname}:${url.port || '5432'}/${placement.database}`;
}

/** Create the target's dedicated database if it has none yet (outside any transaction), then its core schema. */
export async function prepareTarget(clusters: DataPlanePools, target: Placement): Promise<void> {
  if (target.kind === 'database') await adminQuery(clusters, target, `CREATE DATABASE ${q(target.database)}`, '42P04');
  await ensureCoreSchema(clusters.poolFor(target));
}

/**
 * Copy a tenant (its workspace schema and its core rows) from the source database into the
 * target one. One REPEATABLE READ snapshot streams the rows (the backup artifact format, never
 * stored: it is piped straight into the target) while one target transaction drops whatever an
 * earlier attempt left, recreates the schema and loads them; the target is whole or absent.
 * Returns the source's per-table counts and checksums, computed while the rows passed.
 */
export async function copyWorkspace(
  clusters: DataPlanePools,
  request: {
    migrationId: string;
    tenantId: string;
    source: Placement;
    target: Placement;
    batchRows: number;
  },
): Promise<{ rows: number; tables: TableChecksum[] }> {
  const { tenantId, target } = request;
  const targetPool = clusters.poolFor(target);
  const client = await targetPool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await useCanonicalSession(client);
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [tenantId]);
    await dropTenantRows(client, tenantId, target.schema);
    // The copy keeps the source's schema version (a fleet upgrade may be half-way): rows and
    // checksums then compare column for column; the upgrade reaches the new placement later.
    const version = await schemaVersionOf(clusters.poolFor(request.source), tenantId);
    await client.query(workspaceSchemaSql(target.schema, version));
    let loaded: Awaited<ReturnType<typeof loadArtifact>> | undefined;
    // A "store" whose put loads the artifact into the target as the snapshot writes it.
    const pipe: BackupStore = {
      kind: 'file',
      async put(name: string, data: Readable): Promise<StoredObject> {
        loaded = await loadArtifact(client, data, {
          batchRows: request.batchRows,
          workspaceTable: (table) => `${q(target.schema)}.${q(table)}`,
        });
        return { name, size: 0, modified: new Date() };
      },
      get: async () => undefined,
      delete: async () => false,
      list: async () => [],
    };
    const snapshot = await takeSnapshot(
      clusters.poolFor(request.source),
      {
        backupId: request.migrationId,
        tenantId,
        schema: request.source.schema,
        objectName: `migration/${request.migrationId}`,
        batchRows: request.batchRows,
      },
      pipe,
    );
    if (!loaded) throw new Error('the snapshot produced no rows to load');
    const core = loaded.core;
    const retarget = (name: string, change: (row: Record<string, unknown>) => void) =>
      (core.get(name) ?? []).map((text) => {
        const row = JSON.parse(text) as Record<string, unknown>;
        change(row);
        return JSON.stringify(row);
      });
    await insertRows(
      client,
      'core.workspace',
      retarget('workspace', (w) => {
        w.databaseSchema = target.schema;
      }),
    );
    const users = core.get('user') ?? [];
    await insertRows(client, 'core."user"', users, { onConflict: `(id) DO UPDATE SET ${updateAll(users)}` });
    for (const name of ['userWorkspace', 'role', 'roleTarget']) {
      await insertRows(client, `core.${q(name)}`, core.get(name) ?? []);
    }
    await insertRows(
      client,
      'core."dataSource"',
      retarget('dataSource', (ds) => {
        ds.schema = target.schema;
      }),
    );
    await client.query('COMMIT');
    return { rows: snapshot.totalRows, tables: snapshot.tables };
  } catch (error) {
    await client.query('ROLLBACK').catch((rollback: Error) => {
      broken = rollback;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Count and checksum every table of the tenant at a placement (its workspace tables and its
 * core rows), in one snapshot, as backups compute them.
 */
export async function checksumsAt(
  pool: DataPlanePool,
  tenantId: string,
  schema: string,
  tables: readonly { scope: 'workspace' | 'core'; name: string }[],
  batchRows: number,
): Promise<TableChecksum[]> {
  return inTransaction(pool, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (client) => {
    await useCanonicalSession(client);
    const result: TableChecksum[] = [];
    const present = new Set(
      (
        await client.query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
          [schema],
        )
      ).rows.map((r) => r.name),
    );
    for (const table of tables) {
      if (table.scope === 'workspace') {
        if (!present.has(table.name)) continue;
        const select = canonicalSelect(`${q(schema)}.${q(table.name)}`);
        result.push({ ...table, ...(await checksumOf(client, select, [], batchRows)) });
      } else {
        const select = canonicalSelect(`core.${q(table.name)}`, { where: coreRowsFilter(table.name) });
        result.push({ ...table, ...(await checksumOf(client, select, [tenantId], batchRows)) });
      }
    }
    // Tables the target has and the source does not are differences too.
    for (const name of present) {
      if (!tables.some((t) => t.scope === 'workspace' && t.name === name)) {
        const select = canonicalSelect(`${q(schema)}.${q(name)}`, { orderById: false });
        result.push({ scope: 'workspace', name, ...(await checksumOf(client, select, [], batchRows)) });
      }
    }
    await client.query('COMMIT');
    return result;
  });
}

/** Compare the target with the source checksums the copy recorded: the differing tables, each with both sides. */
export function differences(source: readonly TableChecksum[], target: readonly TableChecksum[]): MigrationTableCheck[] {
  return compareChecksums(source, target).map((m) => ({
    scope: m.scope,
    name: m.name,
    rows: m.expected?.rows ?? 0,
    sha256: m.expected?.sha256 ?? '0'.repeat(64),
    target: m.actual,
  }));
}

export const CORE_TABLE_REFS = CORE_TABLES.map((name) => ({ scope: 'core' as const, name }));

/**
 * Remove a tenant from a placement: its workspace schema and its core rows (the workspace row
 * cascades to users whose default workspace it is, memberships, roles, data source), or its
 * dedicated database. Idempotent.
 */
export async function removeTenantAt(
  clusters: DataPlanePools,
  placement: Placement,
  tenantId: string,
  /**
   * Asked once the tenant's lock there is held (the copy of a migration takes the same lock), so
   * the answer cannot change before the removal: `false` removes nothing. Returns whether it removed.
   */
  mayRemove: () => Promise<boolean> = async () => true,
): Promise<boolean> {
  if (placement.kind === 'database') {
    if (!(await mayRemove())) return false;
    await clusters.closePool(placement);
    await adminQuery(clusters, placement, `DROP DATABASE IF EXISTS ${q(placement.database)} WITH (FORCE)`);
    return true;
  }
  const client = await clusters.poolFor(placement).connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout TO '30s'`);
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [tenantId]);
    if (!(await mayRemove())) {
      await client.query('ROLLBACK');
      return false;
    }
    await dropTenantRows(client, tenantId, placement.schema);
    await client.query('COMMIT');
    return true;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollback: Error) => {
      broken = rollback;
    });
    const missing = (error as { code?: string }).code === '3F000' || (error as { code?: string }).code === '42P01';
    if (!missing) throw error;
    return true;
  } finally {
    client.release(broken);
  }
}

async function dropTenantRows(client: pg.ClientBase, tenantId: string, schema: string): Promise<void> {
  await client.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
  const core = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'core'`);
  if (!core.rowCount) return;
  await client.query('DELETE FROM core."roleTarget" WHERE "workspaceId" = $1', [tenantId]);
  await client.query('DELETE FROM core.role WHERE "workspaceId" = $1', [tenantId]);
  await client.query('DELETE FROM core."userWorkspace" WHERE "workspaceId" = $1', [tenantId]);
  await client.query('DELETE FROM core."dataSource" WHERE "workspaceId" = $1', [tenantId]);
  await client.query('DELETE FROM core.workspace WHERE id = $1', [tenantId]);
  await dropTenantWriteGate(client, tenantId);
}

/** `col = EXCLUDED.col` for every column of the rows but the id. */
function updateAll(rows: readonly string[]): string {
  const first = rows[0];
  if (!first) return 'id = EXCLUDED.id';
  const columns = Object.keys(JSON.parse(first) as Record<string, unknown>).filter((c) => c !== 'id');
  return columns.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ') || 'id = EXCLUDED.id';
}

/** A statement run on the cluster's `postgres` database (CREATE/DROP DATABASE); `ignoreCode` is a harmless outcome. */
async function adminQuery(
  clusters: DataPlanePools,
  placement: Placement,
  sql: string,
  ignoreCode?: string,
): Promise<void> {
  await clusters.adminQuery(placement, sql).catch((error: { code?: string }) => {
    if (ignoreCode === undefined || error.code !== ignoreCode) throw error;
  });
}
