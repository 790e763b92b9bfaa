import { randomUUID } from 'node:crypto';
import { TenantEvents } from '@ttm/contracts';
import { createLogger, inTransaction, keepClientErrors, migrate, type ReceivedEvent } from '@ttm/service-kit';
import { createTestDatabase, type TestDatabase } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_SCHEMA, tenantsProjection } from '../src/features/tenants/projection.js';

const migrations = new URL('../migrations', import.meta.url).pathname;
const logger = createLogger('test', 'silent');
const databases: TestDatabase[] = [];
const pools: pg.Pool[] = [];

async function freshGatewaySchema(): Promise<pg.Pool> {
  const db = await createTestDatabase('ttm_test_tenants_projection');
  databases.push(db);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pools.push(pool);
  // A connection pg-pool is still closing when the database is dropped reports an error: expected here.
  keepClientErrors(pool, logger);
  await migrate(pool, GATEWAY_SCHEMA, migrations, logger);
  return pool;
}

let one: pg.Pool;
let many: pg.Pool;

beforeAll(async () => {
  [one, many] = [await freshGatewaySchema(), await freshGatewaySchema()];
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  await Promise.all(databases.map((db) => db.drop()));
});

/** Every event type the projection handles, for several tenants, interleaved, repeats included. */
function history(tenants: number): ReceivedEvent[] {
  const perTenant = Array.from({ length: tenants }, (_, n) => {
    const tenantId = randomUUID();
    const provisioningId = randomUUID();
    const at = (s: number) => new Date(Date.UTC(2026, 11, 5, 12, 0, s)).toISOString();
    const placement = (region: string) => ({
      region,
      cluster: `${region}-a`,
      kind: 'schema' as const,
      database: 'twenty',
      schema: `workspace_${n}`,
    });
    const typed = (definition: { type: string }, data: object) => ({ definition, data });
    const events = [
      typed(TenantEvents.registered, {
        tenantId,
        provisioningId,
        organizationName: `Org ${n}`,
        adminEmail: `admin${n}@example.test`,
        plan: 'pro',
        region: 'us-east-1',
        registeredAt: at(0),
      }),
      typed(TenantEvents.provisioningStepCompleted, {
        tenantId,
        provisioningId,
        step: 'reserve-slug',
        progress: 20,
        slug: `org-${n}`,
      }),
      typed(TenantEvents.provisioningStepCompleted, {
        tenantId,
        provisioningId,
        step: 'place',
        progress: 40,
        placement: placement('us-east-1'),
      }),
    ];
    if (n % 3 === 0) {
      events.push(
        typed(TenantEvents.provisioningFailed, {
          tenantId,
          provisioningId,
          step: 'create-workspace',
          reason: 'boom',
          failedAt: at(3),
        }),
        typed(TenantEvents.provisioningRetried, { tenantId, provisioningId, resumeAt: 'create-workspace' }),
      );
    }
    events.push(
      typed(TenantEvents.provisioned, {
        tenantId,
        provisioningId,
        slug: `org-${n}`,
        placement: placement('us-east-1'),
        provisionedAt: at(5),
      }),
    );
    if (n % 5 === 0) {
      const backupId = randomUUID();
      events.push(
        typed(TenantEvents.archived, {
          tenantId,
          archiveId: randomUUID(),
          backupId,
          reason: 'operator',
          archivedAt: at(6),
        }),
        typed(TenantEvents.unarchived, { tenantId, restoreId: randomUUID(), backupId, unarchivedAt: at(7) }),
      );
    }
    if (n % 7 === 3) {
      events.push(
        typed(TenantEvents.archived, {
          tenantId,
          archiveId: randomUUID(),
          backupId: randomUUID(),
          reason: 'operator',
          archivedAt: at(6),
        }),
      );
    }
    if (n % 2 === 0) {
      events.push(
        typed(TenantEvents.suspended, { tenantId, reason: 'unpaid' }),
        typed(TenantEvents.placementChanged, { tenantId, from: placement('us-east-1'), to: placement('eu-west-1') }),
        typed(TenantEvents.activated, { tenantId }),
      );
    }
    return events.map((e, i) => ({ tenantId, ...e, time: at(10 + i) }));
  });
  // Round-robin over tenants with an uneven stride, so batches mix tenants and types.
  const out: ReceivedEvent[] = [];
  const queues = perTenant.map((events) => [...events]);
  for (let turn = 0; queues.some((q) => q.length > 0); turn++) {
    const q = queues[(turn * 7) % queues.length]!;
    const next = q.shift() ?? queues.find((other) => other.length > 0)?.shift();
    if (!next) continue;
    out.push({
      meta: { id: randomUUID(), type: next.definition.type, time: next.time } as ReceivedEvent['meta'],
      data: next.data,
      seq: out.length + 1,
      subject: `evt.tenant.${next.tenantId}`,
      deliveryCount: 1,
    });
  }
  return out;
}

async function rows(pool: pg.Pool) {
  const tenants = await pool.query(`SELECT * FROM ${GATEWAY_SCHEMA}.tenants ORDER BY tenant_id`);
  const operations = await pool.query(`SELECT * FROM ${GATEWAY_SCHEMA}.operations ORDER BY operation_id`);
  return { tenants: tenants.rows, operations: operations.rows };
}

describe('the gateway tenants projection', () => {
  it('gives the same rows applying a batch set-based (one statement per type and table) as one event at a time', async () => {
    const events = history(40);
    for (const event of events) await inTransaction(one, (client) => tenantsProjection.apply(client, event));
    // Batches of uneven sizes, as the runner cuts them.
    for (let start = 0, size = 1; start < events.length; start += size, size = (size * 5) % 97) {
      await inTransaction(many, (client) => tenantsProjection.applyMany!(client, events.slice(start, start + size)));
    }
    const expected = await rows(one);
    expect(expected.tenants).toHaveLength(40);
    expect(new Set(expected.tenants.map((t) => t.status))).toEqual(new Set(['active', 'archived']));
    expect(await rows(many)).toEqual(expected);
  });
});
