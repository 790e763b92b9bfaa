import { workspaceSchemaName, workspaceSchemaSql } from '../twentyLayout.js';

/**
 * The SQL of a workspace with its core rows and schema at a version but no users: what fleet
 * benchmarks and upgrade tests generate by the thousand without going through provisioning.
 * Run it in a transaction (it uses `SET LOCAL`).
 */
export function bareWorkspaceSql(workspaceId: string, version: number): string {
  const schema = workspaceSchemaName(workspaceId);
  const id = `'${workspaceId.replace(/'/g, '')}'`;
  return `INSERT INTO core.workspace (id, "displayName", subdomain, "activationStatus", "databaseSchema")
  VALUES (${id}, 'Workspace ${schema}', '${schema}', 'ACTIVE', '${schema}');
INSERT INTO core."dataSource" (id, "workspaceId", schema, "schemaVersion") VALUES (gen_random_uuid(), ${id}, '${schema}', ${Number(version)});
${workspaceSchemaSql(schema, version)}`;
}
