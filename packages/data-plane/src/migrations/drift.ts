import type pg from 'pg';
import { referenceFingerprints, schemaFingerprints } from './fingerprint.js';

export interface WorkspaceDrift {
  workspaceId: string;
  schema: string;
  version: number;
  /** `drifted`: differs from its version's reference; `missing`: no such schema; `unknown-version`: no reference. */
  problem: 'drifted' | 'missing' | 'unknown-version';
}

export interface DriftReport {
  checked: number;
  drifted: WorkspaceDrift[];
}

/**
 * Compare every workspace of one data-plane database with the reference schema of the
 * version its `core."dataSource"` row records. Read-only apart from the rolled-back
 * reference schemas; one catalog query for all workspaces of the database.
 */
export async function checkDrift(client: pg.ClientBase): Promise<DriftReport> {
  const references = await referenceFingerprints(client);
  const { rows } = await client.query<{ id: string; schema: string; version: number }>(
    `SELECT w.id, w."databaseSchema" AS schema, ds."schemaVersion" AS version
       FROM core.workspace w JOIN core."dataSource" ds ON ds."workspaceId" = w.id
      WHERE w."deletedAt" IS NULL`,
  );
  const actual = await schemaFingerprints(
    client,
    rows.map((r) => r.schema),
  );
  const drifted: WorkspaceDrift[] = [];
  for (const row of rows) {
    const found = actual.get(row.schema);
    const reference = references.get(row.version);
    const problem = !found ? 'missing' : !reference ? 'unknown-version' : found !== reference ? 'drifted' : undefined;
    if (problem) drifted.push({ workspaceId: row.id, schema: row.schema, version: row.version, problem });
  }
  return { checked: rows.length, drifted };
}
