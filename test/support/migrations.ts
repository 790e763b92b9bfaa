import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets, Subjects } from '@ttm/contracts';
import { withDatabase } from '@ttm/data-plane';
import { readAggregate, type StoredEvent } from '@ttm/service-kit';
import { eventually, type TestStack } from './stack.js';
import { withClient } from './tenants.js';

export type RegionName = 'us-east-1' | 'eu-west-1';

/** Rows of the tenant in the core tables and whether its schema exists, on one region's shared database. */
export async function tenantRowsIn(
  stack: TestStack,
  region: RegionName,
  tenantId: string,
  schema: string,
): Promise<{
  workspace: number;
  users: number;
  memberships: number;
  roles: number;
  roleTargets: number;
  dataSources: number;
  schema: boolean;
}> {
  const url = stack.clusterUrls[region];
  return withClient(url, async (client) => {
    const core = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'core'`);
    const hasSchema = (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1;
    if (!core.rowCount) {
      return { workspace: 0, users: 0, memberships: 0, roles: 0, roleTargets: 0, dataSources: 0, schema: hasSchema };
    }
    const n = async (sql: string) => (await client.query<{ n: number }>(sql, [tenantId])).rows[0]!.n;
    return {
      workspace: await n('SELECT count(*)::int AS n FROM core.workspace WHERE id = $1'),
      users: await n('SELECT count(*)::int AS n FROM core."user" WHERE "defaultWorkspaceId" = $1'),
      memberships: await n('SELECT count(*)::int AS n FROM core."userWorkspace" WHERE "workspaceId" = $1'),
      roles: await n('SELECT count(*)::int AS n FROM core.role WHERE "workspaceId" = $1'),
      roleTargets: await n('SELECT count(*)::int AS n FROM core."roleTarget" WHERE "workspaceId" = $1'),
      dataSources: await n('SELECT count(*)::int AS n FROM core."dataSource" WHERE "workspaceId" = $1'),
      schema: hasSchema,
    };
  });
}

export const NO_ROWS = {
  workspace: 0,
  users: 0,
  memberships: 0,
  roles: 0,
  roleTargets: 0,
  dataSources: 0,
  schema: false,
};

/** The database URL of a region's shared database (where schema placements live). */
export function regionUrl(stack: TestStack, region: RegionName, database?: string): string {
  const url = stack.clusterUrls[region];
  return database ? withDatabase(url, database) : url;
}

export async function migrationEvents(nc: NatsConnection, migrationId: string): Promise<StoredEvent[]> {
  return (await readAggregate(jetstream(nc), Subjects.migrationEvents(migrationId))).events;
}

/** Wait until the migration has an event of one of these types; returns all its events. */
export async function untilMigration(
  nc: NatsConnection,
  migrationId: string,
  types: string[],
  timeoutMs = 30_000,
): Promise<StoredEvent[]> {
  return eventually(async () => {
    const events = await migrationEvents(nc, migrationId);
    return events.some((e) => types.includes(e.type)) ? events : undefined;
  }, timeoutMs);
}

export async function freezeOf(nc: NatsConnection, tenantId: string): Promise<unknown> {
  const kv = await new Kvm(nc).open(Buckets.writeFreeze);
  const entry = await kv.get(tenantId);
  return entry?.operation === 'PUT' ? entry.json() : undefined;
}
