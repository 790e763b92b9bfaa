import { randomUUID } from 'node:crypto';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type CommandDefinition,
  type DataOf,
  encodeMessage,
  RegisterOrganization,
  Subjects,
  TenantProvisioned,
} from '@ttm/contracts';
import { WORKSPACE_TABLES, withDatabase } from '@ttm/data-plane';
import { publishMessage, readAggregate, type StoredEvent } from '@ttm/service-kit';
import pg from 'pg';
import type { z } from 'zod';
import { eventually, type TestStack } from '../../../../test/support/stack.js';
import { canonicalSelect, checksumOf, q, useCanonicalSession } from '../../src/artifact/canonicalRows.js';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
export const ADMIN = { kind: 'admin', id: 'ops@test' } as const;

export interface TestTenant {
  tenantId: string;
  schema: string;
  /** URL of the tenant's placement database. */
  url: string;
}

export async function send<D extends CommandDefinition>(
  nc: NatsConnection,
  def: D,
  data: z.input<D['schema']>,
): Promise<void> {
  await publishMessage(jetstream(nc), def.subject, encodeMessage(def, data, { source: '/test' }));
}

/** Register a tenant through the provisioner and wait until it is active. */
export async function registerTenant(stack: TestStack, nc: NatsConnection, plan = 'pro'): Promise<TestTenant> {
  const tenantId = randomUUID();
  await send(nc, RegisterOrganization, {
    provisioningId: randomUUID(),
    tenantId,
    organizationName: `Backup Test ${tenantId.slice(0, 8)}`,
    adminEmail: `admin-${tenantId.slice(0, 8)}@backup.test`,
    adminPasswordHash: HASH,
    plan,
    region: 'us-east-1',
    requestedAt: new Date().toISOString(),
  });
  const provisioned = await eventually(async () => {
    const { events } = await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId));
    return events.find((e) => e.type === TenantProvisioned.type);
  }, 20_000);
  const placement = (provisioned.data as DataOf<typeof TenantProvisioned>).placement;
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

/** Count and checksum of every workspace table of a schema, as a backup computes them. */
export async function schemaChecksums(
  url: string,
  schema: string,
): Promise<Record<string, { rows: number; sha256: string }>> {
  return withClient(url, async (client) => {
    await client.query('BEGIN');
    await useCanonicalSession(client);
    const result: Record<string, { rows: number; sha256: string }> = {};
    for (const table of WORKSPACE_TABLES) {
      result[table.name] = await checksumOf(client, canonicalSelect(`${q(schema)}.${q(table.name)}`), [], 1000);
    }
    await client.query('COMMIT');
    return result;
  });
}

export async function backupEvents(js: JetStreamClient, backupId: string): Promise<StoredEvent[]> {
  return (await readAggregate(js, Subjects.backupEvents(backupId))).events;
}

/** Wait for an event of `type` on the backup matching `match`. */
export async function untilEvent(
  js: JetStreamClient,
  backupId: string,
  type: string | string[],
  match: (data: Record<string, unknown>) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<StoredEvent> {
  const types = Array.isArray(type) ? type : [type];
  return eventually(async () => {
    const events = await backupEvents(js, backupId);
    return events.find((e) => types.includes(e.type) && match(e.data as Record<string, unknown>));
  }, timeoutMs);
}
