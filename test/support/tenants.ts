import { randomUUID } from 'node:crypto';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeMessage, RegisterOrganization, Subjects, TenantProvisioned } from '@ttm/contracts';
import { WORKSPACE_TABLES, withDatabase } from '@ttm/data-plane';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import pg from 'pg';
import { eventually, type TestStack } from './stack.js';

/**
 * Tenants for tests of any service or package: registered through the provisioner (NATS only,
 * no gateway needed), seeded and compared with plain SQL, so no test reaches into another
 * service's code.
 */

/** A valid argon2id hash: the provisioner stores it, nothing verifies it. */
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

export interface TestTenant {
  tenantId: string;
  schema: string;
  /** URL of the tenant's placement database. */
  url: string;
}

/** The ids a registration is sent with. */
export interface RegistrationIds {
  provisioningId: string;
  tenantId: string;
}

/**
 * Publish a RegisterOrganization for a us-east-1 organization `name` (admin@<name>.test) and
 * return its ids; nothing waits for the provisioner.
 */
export async function publishRegistration(
  js: JetStreamClient,
  name: string,
  plan = 'pro',
  ids: RegistrationIds = { provisioningId: randomUUID(), tenantId: randomUUID() },
): Promise<RegistrationIds> {
  const message = encodeMessage(
    RegisterOrganization,
    {
      ...ids,
      organizationName: name,
      adminEmail: `admin@${name.toLowerCase().replace(/\W+/g, '')}.test`,
      adminPasswordHash: HASH,
      plan,
      region: 'us-east-1',
      requestedAt: new Date().toISOString(),
    },
    { source: '/test' },
  );
  await publishMessage(js, RegisterOrganization.subject, message);
  return ids;
}

/** Register a tenant in us-east-1 through the provisioner and wait until it is provisioned. */
export async function registerTenant(stack: TestStack, nc: NatsConnection, plan = 'pro'): Promise<TestTenant> {
  const tenantId = randomUUID();
  const js = jetstream(nc);
  await publishRegistration(js, `Test ${tenantId.slice(0, 8)}`, plan, { provisioningId: randomUUID(), tenantId });
  const provisioned = await eventually(async () => {
    const { events } = await readAggregate(js, Subjects.tenantEvents(tenantId));
    return events.find((event) => event.type === TenantProvisioned.type);
  }, 20_000);
  const { placement } = TenantProvisioned.schema.parse(provisioned.data);
  return { tenantId, schema: placement.schema, url: withDatabase(stack.clusterUrls['us-east-1'], placement.database) };
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const q = (name: string) => pg.escapeIdentifier(name);

/** `pairs` companies, each with a person working there, and `notes` notes with some text. */
export async function seedTenant(tenant: TestTenant, pairs: number, notes = 0): Promise<void> {
  const s = q(tenant.schema);
  await withClient(tenant.url, async (client) => {
    await client.query(
      `WITH c AS (
         INSERT INTO ${s}.company (name, employees, "addressAddressCity", position)
         SELECT 'Company ' || n, n, 'City ' || (n % 17), n / 3.0 FROM generate_series(1, $1) n RETURNING id, name
       )
       INSERT INTO ${s}.person ("nameFirstName", "nameLastName", "emailsPrimaryEmail", "companyId")
       SELECT 'First', c.name, 'p' || c.id || '@example.test', c.id FROM c`,
      [pairs],
    );
    if (notes > 0) {
      await client.query(
        `INSERT INTO ${s}.note (title, "bodyV2Markdown", position)
         SELECT 'Note ' || n, repeat('Lorem ipsum dolor sit amet ' || n || E'\\n', 8), n FROM generate_series(1, $1) n`,
        [notes],
      );
    }
  });
}

/**
 * Row count and an md5 of every row's text, per workspace table of a schema, read in one
 * snapshot with a fixed session (UTC, ISO dates, exact floats): equal before and after a copy
 * exactly when the rows are equal.
 */
export async function schemaChecksums(
  url: string,
  schema: string,
): Promise<Record<string, { rows: number; md5: string }>> {
  return withClient(url, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await client.query(
      "SET LOCAL TIME ZONE 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'iso_8601'; SET LOCAL extra_float_digits = 3",
    );
    const result: Record<string, { rows: number; md5: string }> = {};
    for (const table of WORKSPACE_TABLES) {
      const { rows } = await client.query<{ rows: number; md5: string }>(
        `SELECT count(*)::int AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5
           FROM ${q(schema)}.${q(table.name)} t`,
      );
      result[table.name] = rows[0]!;
    }
    await client.query('COMMIT');
    return result;
  });
}
