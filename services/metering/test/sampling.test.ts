import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets, type UsageTotal, usageTotalKey } from '@ttm/contracts';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { registerTenant, withClient } from '../../../test/support/tenants.js';
import { publishUsage, usageDrained } from '../../../test/support/usage.js';
import { startMeteringStack } from './support/stack.js';

let stack: TestStack;
let nc: NatsConnection;

beforeAll(async () => {
  ({ stack, nc } = await startMeteringStack({}, { metering: true }));
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

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
    const tenant = await registerTenant(stack, nc, 'pro');
    const { tenantId, schema } = tenant;
    await placedInMetering(tenantId);

    const empty = (await stack.metering!.sampleNow()).find((s) => s.tenantId === tenantId);
    expect(empty).toMatchObject({ users: 1 });

    // Rows in the tenant's own tables, and a second user.
    const expectedBytes = await withClient(tenant.url, async (client) => {
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

  it('between full samples measures again only the tenants that called the API; a full sample measures all', async () => {
    const [called, quiet] = [await registerTenant(stack, nc, 'pro'), await registerTenant(stack, nc, 'pro')];
    await placedInMetering(called.tenantId);
    await placedInMetering(quiet.tenantId);
    const before = await stack.metering!.sampleNow();
    const sizeIn = (samples: { tenantId: string; storageBytes: number }[], tenantId: string) =>
      samples.find((s) => s.tenantId === tenantId)!.storageBytes;

    const grow = (tenant: typeof called) =>
      withClient(tenant.url, async (client) => {
        await client.query(
          `INSERT INTO ${pg.escapeIdentifier(tenant.schema)}.company (name)
           SELECT 'Company ' || i || repeat('x', 400) FROM generate_series(1, 2000) i`,
        );
        const { rows } = await client.query<{ bytes: string }>(
          `SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
          [tenant.schema],
        );
        return Number(rows[0]!.bytes);
      });
    const [calledBytes, quietBytes] = [await grow(called), await grow(quiet)];
    await publishUsage(jetstream(nc), [{ tenantId: called.tenantId, value: 1, dedupKey: `sampling:${randomUUID()}` }]);
    await usageDrained(nc);

    const changed = await stack.metering!.sampleChanged();
    expect(sizeIn(changed, called.tenantId)).toBe(calledBytes);
    // Not measured: its last size is published again (its rows came without an API call).
    expect(sizeIn(changed, quiet.tenantId)).toBe(sizeIn(before, quiet.tenantId));

    const full = await stack.metering!.sampleNow();
    expect(sizeIn(full, quiet.tenantId)).toBe(quietBytes);
  }, 60_000);

  it('reads a dedicated database with pg_database_size', async () => {
    const tenant = await registerTenant(stack, nc, 'enterprise');
    const { tenantId } = tenant;
    const database = new URL(tenant.url).pathname.slice(1);
    await placedInMetering(tenantId);
    const sample = (await stack.metering!.sampleNow()).find((s) => s.tenantId === tenantId)!;
    const size = await withClient(tenant.url, async (client) => {
      const { rows } = await client.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
      return Number(rows[0]!.bytes);
    });
    expect(database).not.toBe(new URL(stack.clusterUrls['us-east-1']).pathname.slice(1));
    expect(sample).toMatchObject({ users: 1 });
    // The database may grow by a page between the two reads (statistics, free-space map).
    expect(Math.abs(sample.storageBytes - size)).toBeLessThan(64 * 1024);
  }, 45_000);
});
