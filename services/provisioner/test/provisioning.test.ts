import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import type { connect } from '@nats-io/transport-node';
import { encodeMessage, RegisterOrganization, Subjects } from '@ttm/contracts';
import {
  referenceFingerprints,
  schemaFingerprints,
  schemaVersionOf,
  WORKSPACE_SCHEMA_VERSION,
  WORKSPACE_TABLES,
  workspaceSchemaName,
  workspaceSchemaSql,
} from '@ttm/data-plane';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startConnectedStack, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { withClient } from '../../../test/support/tenants.js';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

let stack: TestStack;
let nc: Awaited<ReturnType<typeof connect>>;

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ gateway: false }));
});

afterAll(() => stopConnectedStack({ stack, nc }));

function registration(overrides: Partial<Record<string, string>> = {}) {
  return {
    provisioningId: randomUUID(),
    tenantId: randomUUID(),
    organizationName: 'Acme Corp',
    adminEmail: 'admin@acme.test',
    adminPasswordHash: HASH,
    plan: 'pro',
    region: 'us-east-1',
    requestedAt: new Date().toISOString(),
    ...overrides,
  };
}

async function send(data: ReturnType<typeof registration>, id?: string) {
  const message = encodeMessage(RegisterOrganization, data, { source: '/test', ...(id ? { id } : {}) });
  await publishMessage(jetstream(nc), RegisterOrganization.subject, message);
}

async function eventsOf(tenantId: string) {
  return (await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId))).events;
}

async function untilSettled(tenantId: string, timeoutMs = 15_000) {
  return eventually(async () => {
    const events = await eventsOf(tenantId);
    const last = events.at(-1)?.type;
    return last === 'ttm.tenant.provisioned.v1' || last === 'ttm.tenant.provisioning-failed.v1' ? events : undefined;
  }, timeoutMs);
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(url, async (client) => (await client.query<T>(sql, params)).rows);
}

describe('provisioning saga', () => {
  it('creates the Twenty workspace and reports every step', async () => {
    const data = registration();
    await send(data);
    const events = await untilSettled(data.tenantId);
    expect(events.map((e) => e.type)).toEqual([
      'ttm.tenant.registered.v1',
      ...Array(4).fill('ttm.tenant.provisioning-step-completed.v1'),
      'ttm.tenant.provisioned.v1',
    ]);
    const url = stack.clusterUrls['us-east-1'];
    const schema = workspaceSchemaName(data.tenantId);
    const [workspace] = await query(url, 'SELECT * FROM core.workspace WHERE id = $1', [data.tenantId]);
    expect(workspace).toMatchObject({ activationStatus: 'ACTIVE', subdomain: 'acme-corp', databaseSchema: schema });
    const tables = await query<{ table_name: string }>(
      url,
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    expect(tables.map((t) => t.table_name).sort()).toEqual(WORKSPACE_TABLES.map((t) => t.name).sort());
    const [admin] = await query(
      url,
      `SELECT u.email, u."passwordHash", r.label FROM core."user" u
         JOIN core."userWorkspace" uw ON uw."userId" = u.id
         JOIN core."roleTarget" rt ON rt."userWorkspaceId" = uw.id
         JOIN core.role r ON r.id = rt."roleId"
        WHERE uw."workspaceId" = $1`,
      [data.tenantId],
    );
    expect(admin).toEqual({ email: 'admin@acme.test', passwordHash: HASH, label: 'Admin' });
    const roles = await query(url, 'SELECT label FROM core.role WHERE "workspaceId" = $1 ORDER BY label', [
      data.tenantId,
    ]);
    expect(roles.map((r) => r.label)).toEqual(['Admin', 'Member']);
    const members = await query(url, `SELECT "userEmail" FROM "${schema}"."workspaceMember"`);
    expect(members).toEqual([{ userEmail: 'admin@acme.test' }]);
  });

  it('takes a warm schema from the pool when one is ready, with every table', async () => {
    await stack.provisioner!.dataPlane.fillWarmPools();
    const url = stack.clusterUrls['us-east-1'];
    // The pool refills in the background, so look at names rather than counts.
    const warm = async () =>
      (await query<{ name: string }>(url, 'SELECT name FROM ttm_internal.warm_schemas')).map((r) => r.name);
    const before = await warm();
    expect(before.length).toBeGreaterThan(0);
    const data = registration({ organizationName: 'Warm Start' });
    await send(data);
    await untilSettled(data.tenantId);
    const after = new Set(await warm());
    expect(before.filter((name) => !after.has(name))).toHaveLength(1);
    const schema = workspaceSchemaName(data.tenantId);
    const tables = await query<{ table_name: string }>(
      url,
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    expect(tables.map((t) => t.table_name).sort()).toEqual(WORKSPACE_TABLES.map((t) => t.name).sort());
    const fks = await query<{ n: number }>(
      url,
      `SELECT count(*)::int AS n FROM information_schema.table_constraints
        WHERE table_schema = $1 AND constraint_type = 'FOREIGN KEY'`,
      [schema],
    );
    expect(fks[0]!.n).toBeGreaterThan(10);
  });

  it('drops warm schemas of an older version and provisions new tenants at the current one', async () => {
    const url = stack.clusterUrls['us-east-1'];
    const stale = `ttm_warm_stale${randomUUID().slice(0, 8)}`;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(workspaceSchemaSql(stale, WORKSPACE_SCHEMA_VERSION - 1));
      await client.query('INSERT INTO ttm_internal.warm_schemas (name, version, created_at) VALUES ($1, $2, $3)', [
        stale,
        WORKSPACE_SCHEMA_VERSION - 1,
        new Date(0),
      ]);
      await client.query('COMMIT');
      await stack.provisioner!.dataPlane.fillWarmPools();
      const left = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [stale]);
      expect(left.rowCount).toBe(0);
      const data = registration({ organizationName: 'Current Version' });
      await send(data);
      await untilSettled(data.tenantId);
      const schema = workspaceSchemaName(data.tenantId);
      expect(await schemaVersionOf(client, data.tenantId)).toBe(WORKSPACE_SCHEMA_VERSION);
      const references = await referenceFingerprints(client);
      expect((await schemaFingerprints(client, [schema])).get(schema)).toBe(references.get(WORKSPACE_SCHEMA_VERSION));
    } finally {
      await client.end();
    }
  });

  it('makes one tenant from a command delivered twice', async () => {
    const data = registration({ organizationName: 'Twice Inc' });
    await send(data);
    await send(data); // a different ce-id: JetStream stores both, the saga must not double anything
    const events = await untilSettled(data.tenantId);
    await new Promise((r) => setTimeout(r, 500)); // let the second delivery finish too
    expect((await eventsOf(data.tenantId)).length).toBe(events.length);
    expect(events.filter((e) => e.type === 'ttm.tenant.provisioned.v1')).toHaveLength(1);
    const rows = await query(
      stack.clusterUrls['us-east-1'],
      'SELECT count(*)::int AS n FROM core."user" WHERE "defaultWorkspaceId" = $1',
      [data.tenantId],
    );
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('gives racing registrations of one name distinct slugs', async () => {
    const racers = Array.from({ length: 8 }, () => registration({ organizationName: 'Racing Co' }));
    await Promise.all(racers.map((r) => send(r)));
    const slugs = await Promise.all(
      racers.map(async (r) => {
        const events = await untilSettled(r.tenantId, 30_000);
        const provisioned = events.find((e) => e.type === 'ttm.tenant.provisioned.v1');
        return (provisioned?.data as { slug: string } | undefined)?.slug;
      }),
    );
    expect(new Set(slugs).size).toBe(racers.length);
    expect(slugs).toContain('racing-co');
  });

  it('places a tenant in its own region only', async () => {
    const data = registration({ organizationName: 'Euro GmbH', region: 'eu-west-1' });
    await send(data);
    await untilSettled(data.tenantId);
    const eu = await query(stack.clusterUrls['eu-west-1'], 'SELECT id FROM core.workspace WHERE id = $1', [
      data.tenantId,
    ]);
    const us = await query(stack.clusterUrls['us-east-1'], 'SELECT id FROM core.workspace WHERE id = $1', [
      data.tenantId,
    ]);
    expect(eu).toHaveLength(1);
    expect(us).toHaveLength(0);
  });

  it('gives isolation plans a dedicated database', async () => {
    const data = registration({ organizationName: 'Big Enterprise', plan: 'enterprise' });
    await send(data);
    const events = await untilSettled(data.tenantId);
    const provisioned = events.at(-1)?.data as { placement: { kind: string; database: string } };
    expect(provisioned.placement.kind).toBe('database');
    const dedicated = new URL(stack.clusterUrls['us-east-1']);
    dedicated.pathname = `/${provisioned.placement.database}`;
    const rows = await query(dedicated.toString(), 'SELECT "activationStatus" FROM core.workspace WHERE id = $1', [
      data.tenantId,
    ]);
    expect(rows).toEqual([{ activationStatus: 'ACTIVE' }]);
  });
});
