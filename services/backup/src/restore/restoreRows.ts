import type { BackupManifest, RestoreStep } from '@ttm/contracts';
import type { DataPlanePool, Placement } from '@ttm/data-plane';
import {
  migrateSchema,
  OLDEST_SUPPORTED_SCHEMA_VERSION,
  WORKSPACE_SCHEMA_VERSION,
  WORKSPACE_TABLES,
  workspaceSchemaSql,
} from '@ttm/data-plane';
import type pg from 'pg';
import {
  canonicalSelect,
  checksumOf,
  coreRowsFilter,
  insertRows,
  q,
  type TableChecksum,
  useCanonicalSession,
} from '../artifact/canonicalRows.js';
import { ArtifactUnreadable } from '../artifact/format.js';
import { type LoadedArtifact, loadArtifact } from '../artifact/load.js';
import { compareChecksums } from '../artifact/verifyArtifact.js';
import type { BackupStore } from '../store/index.js';
import { cloneCoreRows } from './coreRows.js';

export interface RestoreRequest {
  backupId: string;
  manifest: BackupManifest;
  /** The tenant the rows go to: the backup's own (in place) or the clone's. */
  targetTenantId: string;
  target: Placement;
  batchRows: number;
  /** Reports a step; awaited, so progress events go out in order. */
  progress: (step: RestoreStep, progress: number) => Promise<void>;
  /**
   * In place, for an archived tenant: its dropped workspace schema is created again (empty, at
   * its recorded version) before the rows load, and its workspace turns ACTIVE, in the same transaction.
   */
  unarchive?: boolean;
}

/** A restore that cannot be done as asked; no retry changes that. */
export class RestoreRefused extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RestoreRefused';
  }
}

const layoutTables = new Set(WORKSPACE_TABLES.map((t) => t.name));
/** The core tables an in-place restore puts back as they were; the workspace row and data source stay the control plane's. */
const IN_PLACE_CORE = ['user', 'userWorkspace', 'role', 'roleTarget'] as const;

/**
 * Restore into a new schema for another tenant id (a clone), in the shared database of the
 * backup's cluster, in one transaction that also checks every workspace table's checksum
 * against the manifest before it commits. Run again after a crash: a clone that is already
 * there and matches the manifest is the job done; anything else under that id is refused.
 */
export async function restoreClone(
  pool: DataPlanePool,
  store: BackupStore,
  request: RestoreRequest,
): Promise<{ rows: number }> {
  requireRestorableVersion(request.manifest);
  const { target, targetTenantId, manifest } = request;
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [targetTenantId]);
    const existing = await client.query<{ databaseSchema: string }>(
      'SELECT "databaseSchema" FROM core.workspace WHERE id = $1',
      [targetTenantId],
    );
    if (existing.rows[0]) {
      if (existing.rows[0].databaseSchema !== target.schema) {
        throw new RestoreRefused(`tenant ${targetTenantId} already has a workspace; clone into a new tenant id`);
      }
      const mismatches = compareChecksums(workspaceTablesOf(manifest), await workspaceChecksums(client, request));
      if (mismatches.length > 0) {
        throw new RestoreRefused(`tenant ${targetTenantId} already has a workspace that is not this backup's clone`);
      }
      await request.progress('check', 95);
      return { rows: manifest.totalRows };
    }
    const schemaTaken = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [target.schema]);
    if (schemaTaken.rowCount)
      throw new RestoreRefused(`schema ${target.schema} exists without a workspace; remove it first`);

    const chunks = await openArtifact(store, manifest);
    await request.progress('read-artifact', 10);
    // The schema of the backup's version takes its rows as they were; checked, it is then
    // upgraded to this build's version in the same transaction (a clone is a new tenant).
    await client.query(workspaceSchemaSql(target.schema, manifest.schemaVersion));
    await request.progress('prepare-target', 25);
    const loaded = await loadRows(client, chunks, request);
    const core = cloneCoreRows(loaded.core, { tenantId: targetTenantId, schema: target.schema });
    await insertRows(client, 'core.workspace', core.get('workspace') ?? []);
    // A user this database still has keeps its row (and its password); the clone only links it.
    await insertRows(client, 'core."user"', core.get('user') ?? [], { onConflict: '(id) DO NOTHING' });
    for (const name of ['userWorkspace', 'role', 'roleTarget', 'dataSource']) {
      await insertRows(client, `core.${q(name)}`, core.get(name) ?? []);
    }
    await request.progress('load-rows', 80);
    checkAgainstManifest(request, workspaceTablesOf(manifest), await workspaceChecksums(client, request));
    await migrateSchema(client, {
      workspaceId: targetTenantId,
      schema: target.schema,
      from: manifest.schemaVersion,
      to: WORKSPACE_SCHEMA_VERSION,
    });
    await request.progress('check', 95);
    return { rows: loaded.rows };
  });
}

/**
 * Replace a tenant's data with the backup's, in one transaction: truncate the workspace
 * tables and reload them, put the tenant's users, memberships, roles and role targets back
 * as they were, and check every restored table's checksum against the manifest before
 * committing. Any failure rolls all of it back: the tenant keeps the data it had. Its
 * workspace row (status) and data source stay as the control plane left them.
 */
export async function restoreInPlace(
  pool: DataPlanePool,
  store: BackupStore,
  request: RestoreRequest,
): Promise<{ rows: number }> {
  requireRestorableVersion(request.manifest);
  const { target, targetTenantId: tenantId, manifest } = request;
  return inTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout TO '60s'`);
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [tenantId]);
    const { rows: found } = await client.query<{ schema: string; version: number | null }>(
      `SELECT w."databaseSchema" AS schema,
              (SELECT "schemaVersion" FROM core."dataSource" WHERE "workspaceId" = w.id) AS version
         FROM core.workspace w WHERE w.id = $1`,
      [tenantId],
    );
    if (!found[0])
      throw new RestoreRefused(`tenant ${tenantId} has no workspace on ${target.cluster}/${target.database}`);
    if (found[0].schema !== target.schema) {
      throw new RestoreRefused(`tenant ${tenantId} lives in schema ${found[0].schema}, not ${target.schema}`);
    }
    // The rows go back at the backup's version, then the workspace returns to the version it
    // was at (or the backup's, if newer): an N-1 backup restored into an N fleet leaves at N.
    const current = found[0].version ?? manifest.schemaVersion;
    const finalVersion = Math.max(current, manifest.schemaVersion);
    const at = { workspaceId: tenantId, schema: target.schema };
    if (current < OLDEST_SUPPORTED_SCHEMA_VERSION || current > WORKSPACE_SCHEMA_VERSION) {
      throw new RestoreRefused(`the workspace is at schema version ${current}, which this build cannot change`);
    }
    if (request.unarchive) await recreateDroppedSchema(client, target.schema, current);
    await migrateSchema(client, { ...at, from: current, to: manifest.schemaVersion });
    const chunks = await openArtifact(store, manifest);
    await request.progress('read-artifact', 10);
    const tables = workspaceTablesOf(manifest);
    await client.query(`TRUNCATE ${tables.map((t) => `${q(target.schema)}.${q(t.name)}`).join(', ')}`);
    await client.query('DELETE FROM core."roleTarget" WHERE "workspaceId" = $1', [tenantId]);
    await client.query('DELETE FROM core.role WHERE "workspaceId" = $1', [tenantId]);
    const { rows: members } = await client.query<{ userId: string }>(
      'DELETE FROM core."userWorkspace" WHERE "workspaceId" = $1 RETURNING "userId"',
      [tenantId],
    );
    await request.progress('prepare-target', 25);

    const loaded = await loadRows(client, chunks, request);
    const users = loaded.core.get('user') ?? [];
    await insertRows(client, 'core."user"', users, { onConflict: `(id) DO UPDATE SET ${updateAll(users)}` });
    for (const name of ['userWorkspace', 'role', 'roleTarget']) {
      await insertRows(client, `core.${q(name)}`, loaded.core.get(name) ?? []);
    }
    // Users who joined after the backup and belong to no other workspace go, as they were not there.
    await client.query(
      `DELETE FROM core."user" u WHERE u.id = ANY($2::uuid[]) AND u."defaultWorkspaceId" = $1
          AND NOT EXISTS (SELECT 1 FROM core."userWorkspace" uw WHERE uw."userId" = u.id)`,
      [tenantId, members.map((m) => m.userId)],
    );
    await request.progress('load-rows', 80);

    const expected = manifest.tables.filter(
      (t) => t.scope === 'workspace' || (IN_PLACE_CORE as readonly string[]).includes(t.name),
    );
    const actual = await workspaceChecksums(client, request);
    for (const name of IN_PLACE_CORE) {
      const select = canonicalSelect(`core.${q(name)}`, { where: coreRowsFilter(name) });
      actual.push({ scope: 'core', name, ...(await checksumOf(client, select, [tenantId], request.batchRows)) });
    }
    checkAgainstManifest(request, expected, actual);
    await migrateSchema(client, { ...at, from: manifest.schemaVersion, to: finalVersion });
    if (request.unarchive) {
      await client.query(
        `UPDATE core.workspace SET "activationStatus" = 'ACTIVE' WHERE id = $1 AND "activationStatus" = 'INACTIVE'`,
        [tenantId],
      );
    }
    await request.progress('check', 95);
    return { rows: loaded.rows };
  });
}

/** An archive dropped the workspace schema: create it again, empty, at the workspace's version. */
async function recreateDroppedSchema(client: pg.ClientBase, schema: string, version: number): Promise<void> {
  const { rows } = await client.query<{ present: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS present', [
    q(schema),
  ]);
  if (!rows[0]?.present) await client.query(workspaceSchemaSql(schema, version));
}

function requireRestorableVersion(manifest: BackupManifest): void {
  if (manifest.schemaVersion < OLDEST_SUPPORTED_SCHEMA_VERSION || manifest.schemaVersion > WORKSPACE_SCHEMA_VERSION) {
    throw new RestoreRefused(
      `the backup has workspace schema version ${manifest.schemaVersion}; this build restores versions ${OLDEST_SUPPORTED_SCHEMA_VERSION} to ${WORKSPACE_SCHEMA_VERSION}`,
    );
  }
  const unknown = manifest.tables.filter((t) => t.scope === 'workspace' && !layoutTables.has(t.name));
  if (unknown.length > 0) {
    throw new RestoreRefused(
      `the backup has tables this build cannot create: ${unknown.map((t) => t.name).join(', ')}`,
    );
  }
}

async function openArtifact(store: BackupStore, manifest: BackupManifest): Promise<AsyncIterable<Uint8Array>> {
  const chunks = await store.get(manifest.objectName);
  if (!chunks) throw new RestoreRefused(`the artifact ${manifest.objectName} is not in the ${store.kind} store`);
  return chunks;
}

async function loadRows(client: pg.ClientBase, chunks: AsyncIterable<Uint8Array>, request: RestoreRequest) {
  let loaded: LoadedArtifact;
  try {
    loaded = await loadArtifact(client, chunks, {
      batchRows: request.batchRows,
      workspaceTable: (name) => {
        if (!request.manifest.tables.some((t) => t.scope === 'workspace' && t.name === name)) {
          throw new ArtifactUnreadable(`the artifact has a table ${name} its manifest does not list`);
        }
        return `${q(request.target.schema)}.${q(name)}`;
      },
      onHeader: (header) => {
        if (header.backupId !== request.backupId) {
          throw new ArtifactUnreadable(`the artifact is backup ${header.backupId}, not ${request.backupId}`);
        }
      },
    });
  } catch (error) {
    if (error instanceof ArtifactUnreadable) throw new RestoreRefused(error.message, { cause: error });
    throw error;
  }
  return loaded;
}

const workspaceTablesOf = (manifest: BackupManifest) => manifest.tables.filter((t) => t.scope === 'workspace');

async function workspaceChecksums(client: pg.ClientBase, request: RestoreRequest): Promise<TableChecksum[]> {
  const result: TableChecksum[] = [];
  for (const table of workspaceTablesOf(request.manifest)) {
    const select = canonicalSelect(`${q(request.target.schema)}.${q(table.name)}`);
    result.push({ scope: 'workspace', name: table.name, ...(await checksumOf(client, select, [], request.batchRows)) });
  }
  return result;
}

function checkAgainstManifest(
  request: RestoreRequest,
  expected: readonly TableChecksum[],
  actual: readonly TableChecksum[],
): void {
  const mismatches = compareChecksums(expected, actual);
  if (mismatches.length > 0) {
    const tables = mismatches.map((m) => `${m.scope}.${m.name}`).join(', ');
    throw new RestoreRefused(`restored rows of backup ${request.backupId} do not match its manifest: ${tables}`);
  }
}

/** `col = EXCLUDED.col` for every column of the rows but the id. */
function updateAll(rows: readonly string[]): string {
  const first = rows[0];
  if (!first) return 'id = EXCLUDED.id';
  const columns = Object.keys(JSON.parse(first) as Record<string, unknown>).filter((c) => c !== 'id');
  return columns.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ') || 'id = EXCLUDED.id';
}

async function inTransaction<T>(pool: DataPlanePool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await useCanonicalSession(client);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollback: Error) => {
      broken = rollback;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
