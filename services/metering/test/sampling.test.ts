import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets, encodeMessage, RegisterOrganization, Subjects, type UsageTotal, usageTotalKey } from '@ttm/contracts';
import { workspaceSchemaName } from '@ttm/data-plane';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { usageDrained } from '../../../test/support/usage.js';
import { startMeteringStack } from './support/stack.js';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  ({ stack, nc, js } = await startMeteringStack({}, { metering: true }));
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

/** Register a tenant through the provisioner and wait until it is active. */
async function provision(name: string, plan: string): Promise<{ tenantId: string; database: string }> {
  const tenantId = randomUUID();
  await publishMessage(
    js,
    RegisterOrganization.subject,
    encodeMessage(
      RegisterOrganization,
      {
        provisioningId: randomUUID(),
        tenantId,
        organizationName: name,
        adminEmail: `admin@${name.toLowerCase().replace(/\W/g, '')}.test`,
        adminPasswordHash: HASH,
        plan,
        region: 'us-east-1',
        requestedAt: new Date().toISOString(),
      },
      { source: '/test' },
    ),
  );
  const placement = await eventually(async () => {
    const { events } = await readAggregate(js, Subjects.tenantEvents(tenantId));
    const last = events.at(-1);
    return last?.type === 'ttm.tenant.provisioned.v1'
      ? (last.data as { placement: { database: string } }).placement
      : undefined;
  }, 30_000);
  return { tenantId, database: placement.database };
}

async function onDatabase<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = new URL(stack.clusterUrls['us-east-1']);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Wait until metering's tenant projection knows where the tenant lives. */
async function placedInMetering(tenantId: string): Promise<void> {
  const client = new pg.Client({ connectionString: stack.db.url });
  await client.connect();
  try {
    await eventually(async () => {
      const { rows } = await client.query(
        `SELECT 1 FROM metering.tenants WHERE tenant_id = $1 AND status = 'active' AND database IS NOT NULL`,
        [tenantId],
      );
      return rows.length > 0 ? true : undefined;
    });
  } finally {
    await client.end();
  }
}

describe('storage and user sampling', () => {
  it('reads the size of a real tenant schema and its users, and counts them as gauges', async () => {
    const { tenantId, database } = await provision('Sample Corp', 'pro');
    await placedInMetering(tenantId);
    const schema = workspaceSchemaName(tenantId);

    const empty = (await stack.metering!.sampleNow()).find((s) => s.tenantId === tenantId);
    expect(empty).toMatchObject({ users: 1 });

    // Rows in the tenant's own tables, and a second user.
    const expectedBytes = await onDatabase(database, async (client) => {
      await client.query(
        `INSERT INTO ${pg.escapeIdentifier(schema)}.company (name, "domainNamePrimaryLinkUrl")
         SELECT 'Company ' || i || repeat('x', 400), 'https://c' || i || '.example' FROM generate_series(1, 3000) i`,
      );
      const user = randomUUID();
      await client.query(
        `INSERT INTO core."user" (id, email, "passwordHash", "defaultWorkspaceId") VALUES ($1, 'second@sample.test', 'x', $2)`,
        [user, tenantId],
      );
      await client.query(`INSERT INTO core."userWorkspace" (id, "userId", "workspaceId") VALUES ($1, $2, $3)`, [
        randomUUID(),
        user,
        tenantId,
      ]);
      const { rows } = await client.query<{ bytes: string }>(
        `SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
        [schema],
      );
      return Number(rows[0]!.bytes);
    });

    const sample = (await stack.metering!.sampleNow()).find((s) => s.tenantId === tenantId)!;
    expect(sample.users).toBe(2);
    expect(sample.storageBytes).toBe(expectedBytes);
    expect(sample.storageBytes).toBeGreaterThan(empty!.storageBytes + 1_000_000);

    // The samples went through USAGE like any usage: the latest is what quota sees.
    await usageDrained(nc);
    const totals = await new Kvm(nc).open(Buckets.usageTotals);
    const storage = await eventually(async () => {
      const entry = await totals.get(usageTotalKey(tenantId, 'storage_bytes'));
      const total = entry?.json<UsageTotal>();
      return total?.value === expectedBytes ? total : undefined;
    }, 5_000);
    expect(storage).toMatchObject({ kind: 'gauge', meter: 'storage_bytes' });
    const users = (await totals.get(usageTotalKey(tenantId, 'users')))?.json<UsageTotal>();
    expect(users?.value).toBe(2);
  }, 45_000);

  it('reads a dedicated database with pg_database_size', async () => {
    const { tenantId, database } = await provision('Isolated Inc', 'enterprise');
    await placedInMetering(tenantId);
    const sample = (await stack.metering!.sampleNow()).find((s) => s.tenantId === tenantId)!;
    const size = await onDatabase(database, async (client) => {
      const { rows } = await client.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
      return Number(rows[0]!.bytes);
    });
    expect(database).not.toBe(new URL(stack.clusterUrls['us-east-1']).pathname.slice(1));
    expect(sample).toMatchObject({ users: 1 });
    // The database may grow by a page between the two reads (statistics, free-space map).
    expect(Math.abs(sample.storageBytes - size)).toBeLessThan(64 * 1024);
  }, 45_000);
});
