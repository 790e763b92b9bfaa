import { type Catalog, databaseOf, withDatabase } from '@ttm/service-kit';
import pg from 'pg';
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
 * version its `core."dataSource"` row records (archived workspaces, INACTIVE with their schema
 * dropped, are left out until they are restored). Read-only apart from the rolled-back
 * reference schemas; one catalog query for all workspaces of the database.
 */
export async function checkDrift(client: pg.ClientBase): Promise<DriftReport> {
  const references = await referenceFingerprints(client);
  const { rows } = await client.query<{ id: string; schema: string; version: number }>(
    `SELECT w.id, w."databaseSchema" AS schema, ds."schemaVersion" AS version
       FROM core.workspace w JOIN core."dataSource" ds ON ds."workspaceId" = w.id
      WHERE w."deletedAt" IS NULL AND w."activationStatus" <> 'INACTIVE'`,
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

export interface ClusterDrift extends DriftReport {
  region: string;
  cluster: string;
  databases: number;
}

/**
 * The drift check over every configured cluster: its shared database and the tenants'
 * dedicated ones (`<shared>_ws_*`), one connection at a time. A cluster that cannot be
 * reached is an error: a check that silently skips a cluster would report a clean fleet.
 */
export async function checkFleetDrift(catalog: Catalog): Promise<ClusterDrift[]> {
  const reports: ClusterDrift[] = [];
  for (const region of catalog.regions) {
    for (const cluster of region.clusters) {
      const shared = databaseOf(cluster.url);
      const admin = new pg.Client({ connectionString: cluster.url, application_name: 'ttm-drift' });
      // A lost connection surfaces in the awaited query; unheard, its `error` event would end the process.
      admin.on('error', () => undefined);
      await admin.connect();
      let databases: string[];
      try {
        const { rows } = await admin.query<{ datname: string }>(
          `SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $1 || '_ws_') ORDER BY datname`,
          [shared],
        );
        databases = rows.map((r) => r.datname);
      } finally {
        await admin.end();
      }
      const report: ClusterDrift = {
        region: region.name,
        cluster: cluster.name,
        databases: 0,
        checked: 0,
        drifted: [],
      };
      for (const database of databases) {
        const client = new pg.Client({
          connectionString: withDatabase(cluster.url, database),
          application_name: 'ttm-drift',
        });
        client.on('error', () => undefined);
        await client.connect();
        try {
          const hasCore = await client.query(`SELECT to_regclass('core."dataSource"') IS NOT NULL AS ok`);
          if (!hasCore.rows[0]?.ok) continue;
          const result = await checkDrift(client);
          report.databases++;
          report.checked += result.checked;
          report.drifted.push(...result.drifted);
        } finally {
          await client.end();
        }
      }
      reports.push(report);
    }
  }
  return reports;
}
