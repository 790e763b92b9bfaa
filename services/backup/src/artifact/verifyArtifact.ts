import type { BackupManifest, TableMismatch } from '@ttm/contracts';
import type { DataPlanePool } from '@ttm/data-plane';
import { WORKSPACE_TABLES, workspaceSchemaSql } from '@ttm/data-plane';
import {
  CORE_TABLES,
  canonicalSelect,
  checksumOf,
  insertRows,
  q,
  type TableChecksum,
  type TableRef,
  useCanonicalSession,
} from '../artifact/canonicalRows.js';
import { ArtifactUnreadable } from '../artifact/format.js';
import { loadArtifact } from '../artifact/load.js';
import { inTransaction } from '../shared/transaction.js';
import type { BackupStore } from '../store/index.js';

export interface VerificationResult {
  result: 'ok' | 'mismatch';
  mismatches: TableMismatch[];
  detail?: string;
}

const layoutTables = new Set(WORKSPACE_TABLES.map((t) => t.name));

/** The scratch schema of a verification: `verify_` and the first 12 hex digits of its id. */
export const scratchSchemaOf = (verificationId: string) => `verify_${verificationId.replace(/-/g, '').slice(0, 12)}`;
const scratchCoreTable = (name: string) => `core__${name}`;

/**
 * Restore the artifact into a scratch schema of the tenant's database, recompute every
 * table's count and checksum there, and compare them with the manifest. All of it happens in
 * one transaction that is rolled back: the scratch schema never outlives the check, even if
 * the process dies mid-way. An artifact that is missing, damaged or cut short is a mismatch
 * with a `detail`; a database that cannot be reached is an error (retry later).
 */
export async function verifyArtifact(
  pool: DataPlanePool,
  store: BackupStore,
  manifest: BackupManifest,
  options: { backupId: string; verificationId: string; batchRows: number },
): Promise<VerificationResult> {
  const chunks = await store.get(manifest.objectName);
  if (!chunks) {
    return { result: 'mismatch', mismatches: [], detail: `the artifact ${manifest.objectName} is not in the store` };
  }
  const scratch = scratchSchemaOf(options.verificationId);
  return inTransaction(pool, 'BEGIN', async (client) => {
    await useCanonicalSession(client);
    await client.query(`DROP SCHEMA IF EXISTS ${q(scratch)} CASCADE`);
    await client.query(workspaceSchemaSql(scratch, manifest.schemaVersion));
    for (const name of CORE_TABLES) {
      await client.query(`CREATE TABLE ${q(scratch)}.${q(scratchCoreTable(name))} (LIKE core.${q(name)})`);
    }
    let loaded: Awaited<ReturnType<typeof loadArtifact>>;
    try {
      loaded = await loadArtifact(client, chunks, {
        batchRows: options.batchRows,
        workspaceTable: (name) => {
          if (!layoutTables.has(name)) {
            throw new ArtifactUnreadable(`table ${name} is not in the workspace layout this build knows`);
          }
          return `${q(scratch)}.${q(name)}`;
        },
        onHeader: (header) => {
          if (header.backupId !== options.backupId || header.tenantId !== manifest.tenantId) {
            throw new ArtifactUnreadable(
              `the artifact is backup ${header.backupId} of tenant ${header.tenantId}, not backup ${options.backupId}`,
            );
          }
        },
      });
    } catch (error) {
      if (!(error instanceof ArtifactUnreadable) && !isDataError(error)) throw error;
      await client.query('ROLLBACK');
      const reason = error instanceof ArtifactUnreadable ? '' : 'its rows do not load: ';
      return { result: 'mismatch', mismatches: [], detail: `${reason}${(error as Error).message}`.slice(0, 2000) };
    }
    for (const [name, rows] of loaded.core) {
      if (!(CORE_TABLES as readonly string[]).includes(name)) continue;
      await insertRows(client, `${q(scratch)}.${q(scratchCoreTable(name))}`, rows);
    }
    const actual: TableChecksum[] = [];
    for (const table of loaded.tables) {
      const from =
        table.scope === 'core' ? `${q(scratch)}.${q(scratchCoreTable(table.name))}` : `${q(scratch)}.${q(table.name)}`;
      actual.push({ ...table, ...(await checksumOf(client, canonicalSelect(from), [], options.batchRows)) });
    }
    await client.query('ROLLBACK');
    const mismatches = compareChecksums(manifest.tables, actual);
    return { result: mismatches.length === 0 ? 'ok' : 'mismatch', mismatches };
  });
}

/** PostgreSQL refused the rows themselves (bad value, broken constraint): the artifact is at fault. */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

const keyOf = (t: TableRef) => `${t.scope}.${t.name}`;

/** The tables whose count or checksum differs, or that only one side has. Pure. */
export function compareChecksums(
  expected: readonly TableChecksum[],
  actual: readonly TableChecksum[],
): TableMismatch[] {
  const found = new Map(actual.map((t) => [keyOf(t), t]));
  const mismatches: TableMismatch[] = [];
  for (const want of expected) {
    const have = found.get(keyOf(want));
    found.delete(keyOf(want));
    if (have && have.rows === want.rows && have.sha256 === want.sha256) continue;
    mismatches.push({
      scope: want.scope,
      name: want.name,
      expected: { rows: want.rows, sha256: want.sha256 },
      actual: have ? { rows: have.rows, sha256: have.sha256 } : null,
    });
  }
  for (const extra of found.values()) {
    mismatches.push({
      scope: extra.scope,
      name: extra.name,
      expected: null,
      actual: { rows: extra.rows, sha256: extra.sha256 },
    });
  }
  return mismatches;
}
