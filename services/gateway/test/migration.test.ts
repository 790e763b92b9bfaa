import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, problem } from '../../../test/support/http.js';
import { freezeOf, migrationEvents, NO_ROWS, regionUrl, tenantRowsIn } from '../../../test/support/migrations.js';
import {
  eventually,
  startStack,
  stopConnectedStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from '../../../test/support/stack.js';
import { registerTenant, schemaChecksums, seedTenant, type TestTenant } from '../../../test/support/tenants.js';
import type { MigrationOperation } from '../src/features/migrations/view.js';

/** Backups' and migrations' operations are shown to operators (and their tenant) only. */
const asOperator = { headers: { 'x-admin-key': TEST_ADMIN_KEY } };

let stack: TestStack;
let nc: NatsConnection;
let tenant: TestTenant;
/** Seen by the backup service's hook while the tenant was frozen. */
const duringFreeze: { gatewayFrozen?: boolean; reason?: string }[] = [];
/** What the backup service's hook does while the tenant is frozen (before the verify step). */
let whileFrozen: () => Promise<void> = async () => {
  const watcher = stack.gateway!.deps.freezes;
  // The gateway's watch gets the freeze within milliseconds of the freeze step.
  const frozen = await eventually(() => watcher.check(tenant.tenantId), 2_000).catch(() => undefined);
  duringFreeze.push({ gatewayFrozen: frozen !== undefined, ...(frozen ? { reason: frozen.reason } : {}) });
};

beforeAll(async () => {
  stack = await startStack({
    backup: false,
    env: { BACKUP_SCHEDULE_EVERY: '0', MIGRATION_SOURCE_GRACE: '1500ms', MIGRATION_SWEEP_EVERY: '200ms' },
  });
  await stack.startBackup({
    hooks: {
      beforeMigrationVerify: async () => {
        await whileFrozen();
      },
    },
  });
  nc = await connect({ servers: stack.nats.url });
  tenant = await registerTenant(stack, nc);
  await seedTenant(tenant, 300, 40);
  await eventually(async () => {
    const response = await admin(`/api/admin/tenants/${tenant.tenantId}`);
    return response.status === 200 && ((await response.json()) as { status: string }).status === 'active'
      ? true
      : undefined;
  }, 15_000);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

const admin = adminFetch(() => stack.url);

const migrate = (tenantId: string, body: unknown) =>
  admin(`/api/admin/tenants/${tenantId}/migrate`, { method: 'POST', body: JSON.stringify(body) });

async function operationUntil(id: string, done: (o: MigrationOperation) => boolean): Promise<MigrationOperation> {
  return eventually(async () => {
    const response = await fetch(`${stack.url}/api/operations/${id}`, asOperator);
    if (response.status !== 200) return undefined;
    const operation = (await response.json()) as MigrationOperation;
    return done(operation) ? operation : undefined;
  }, 30_000);
}

describe('POST /api/admin/tenants/{id}/migrate refuses what cannot be done', () => {
  it('needs the admin key', async () => {
    const response = await fetch(`${stack.url}/api/admin/tenants/${tenant.tenantId}/migrate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target_region: 'eu-west-1' }),
    });
    await problem(response, 401);
  });

  it('404 for an unknown tenant', async () => {
    expect((await problem(await migrate(randomUUID(), { target_region: 'eu-west-1' }), 404)).code).toBe(
      'TTM_TENANT_NOT_FOUND',
    );
  });

  it('400 for an unknown region or cluster, or the placement it has', async () => {
    expect((await problem(await migrate(tenant.tenantId, { target_region: 'mars-1' }), 400)).code).toBe(
      'TTM_UNKNOWN_REGION',
    );
    const cluster = await migrate(tenant.tenantId, { target_region: 'eu-west-1', target_cluster: 'nope' });
    expect((await problem(cluster, 400)).code).toBe('TTM_INVALID_MIGRATION_TARGET');
    expect((await problem(await migrate(tenant.tenantId, { target_region: 'us-east-1' }), 400)).code).toBe(
      'TTM_INVALID_MIGRATION_TARGET',
    );
    expect((await problem(await migrate(tenant.tenantId, {}), 400)).code).toBe('TTM_INVALID_MIGRATION_TARGET');
  });
});

describe('a migration from us-east-1 to eu-west-1', () => {
  let operationId: string;
  let before: Awaited<ReturnType<typeof schemaChecksums>>;

  it('answers 202 with the operation, and a second request 409 while it runs', async () => {
    before = await schemaChecksums(tenant.url, tenant.schema);
    const response = await migrate(tenant.tenantId, { target_region: 'eu-west-1' });
    const text = await response.text();
    expect(response.status, text).toBe(202);
    const accepted = JSON.parse(text) as { operation_id: string; target: { region: string; cluster: string } };
    expect(accepted.target).toMatchObject({ region: 'eu-west-1', cluster: 'euw1-a', schema: tenant.schema });
    expect(response.headers.get('location')).toBe(`/api/operations/${accepted.operation_id}`);
    operationId = accepted.operation_id;
    const again = await migrate(tenant.tenantId, { target_region: 'eu-west-1' });
    expect((await problem(again, 409)).code).toBe('TTM_MIGRATION_CONFLICT');
  });

  it('shows progress as an operation of kind migration, also as Server-Sent Events', async () => {
    const stream = await fetch(`${stack.url}/api/operations/${operationId}/events`, asOperator);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const text = await stream.text(); // ends once the operation succeeded or failed
    const updates = text
      .split('\n\n')
      .filter((block) => block.startsWith('event: operation'))
      .map((block) => JSON.parse(block.split('\ndata: ')[1]!) as MigrationOperation);
    expect(updates.at(-1)).toMatchObject({ id: operationId, kind: 'migration', status: 'succeeded', progress: 100 });
    const operation = await operationUntil(operationId, (o) => o.status === 'succeeded');
    expect(operation).toMatchObject({ kind: 'migration', tenant_id: tenant.tenantId, step: expect.any(String) });
    expect(operation.result).toMatchObject({
      source: { region: 'us-east-1' },
      target: { region: 'eu-west-1' },
      freeze_ms: expect.any(Number),
    });
    expect(operation.result!.rows).toBeGreaterThan(600);
  });

  it('froze the tenant writes in the gateway during the copy, and lifted the freeze', async () => {
    expect(duringFreeze).toEqual([{ gatewayFrozen: true, reason: 'migration' }]);
    expect(await freezeOf(nc, tenant.tenantId)).toBeUndefined();
    const watcher = stack.gateway!.deps.freezes;
    expect(watcher.check(tenant.tenantId)).toBeUndefined();
  });

  it('routes the tenant to eu-west-1 with the data identical', async () => {
    const detail = await eventually(async () => {
      const body = (await (await admin(`/api/admin/tenants/${tenant.tenantId}`)).json()) as {
        placement: { region: string; database: string };
      };
      return body.placement.region === 'eu-west-1' ? body : undefined;
    });
    expect(stack.gateway!.deps.directory.get(tenant.tenantId)?.placement?.region).toBe('eu-west-1');
    const after = await schemaChecksums(regionUrl(stack, 'eu-west-1', detail.placement.database), tenant.schema);
    expect(after).toEqual(before);
    const events = await migrationEvents(nc, operationId);
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['ttm.migration.started.v1', 'ttm.migration.completed.v1']),
    );
    const completed = events.find((e) => e.type === 'ttm.migration.completed.v1')!.data as { freezeMs: number };
    expect(completed.freezeMs).toBeGreaterThan(0);
    // The provisioner counts the tenant on its new cluster when it places the next ones.
    await eventually(async () => {
      const { rows } = await stack.provisioner!.service.pool!.query<{ region: string }>(
        'SELECT region FROM provisioner.placements WHERE tenant_id = $1',
        [tenant.tenantId],
      );
      return rows[0]?.region === 'eu-west-1' ? true : undefined;
    });
  });

  it('keeps exactly one live copy, and no row on us-east-1 once the grace period is over', async () => {
    await operationUntil(operationId, (o) => o.result?.source_removed_at != null);
    const eu = await tenantRowsIn(stack, 'eu-west-1', tenant.tenantId, tenant.schema);
    expect(eu).toMatchObject({ workspace: 1, users: 1, memberships: 1, roles: 2, roleTargets: 1, dataSources: 1 });
    expect(eu.schema).toBe(true);
    expect(await tenantRowsIn(stack, 'us-east-1', tenant.tenantId, tenant.schema)).toEqual(NO_ROWS);
  });

  it('moves the tenant back the same way', async () => {
    const response = await migrate(tenant.tenantId, { target_region: 'us-east-1' });
    expect(response.status).toBe(202);
    const { operation_id } = (await response.json()) as { operation_id: string };
    await operationUntil(operation_id, (o) => o.result?.source_removed_at != null);
    expect(await schemaChecksums(tenant.url, tenant.schema)).toEqual(before);
    expect(await tenantRowsIn(stack, 'eu-west-1', tenant.tenantId, tenant.schema)).toEqual(NO_ROWS);
  });
});

describe('a tenant moved back before the grace period of its first move ended', () => {
  it('keeps the copy it moved back to, and removes the other one', async () => {
    const bounced = await registerTenant(stack, nc);
    await seedTenant(bounced, 40);
    const before = await schemaChecksums(bounced.url, bounced.schema);
    await eventually(() =>
      stack.gateway!.deps.directory.get(bounced.tenantId)?.status === 'active' ? true : undefined,
    );
    const there = (await (await migrate(bounced.tenantId, { target_region: 'eu-west-1' })).json()) as {
      operation_id: string;
    };
    await operationUntil(there.operation_id, (o) => o.status === 'succeeded');
    await eventually(() =>
      stack.gateway!.deps.directory.get(bounced.tenantId)?.placement?.region === 'eu-west-1' ? true : undefined,
    );
    const back = await migrate(bounced.tenantId, { target_region: 'us-east-1' });
    expect(back.status).toBe(202);
    const { operation_id } = (await back.json()) as { operation_id: string };
    await operationUntil(operation_id, (o) => o.result?.source_removed_at != null);
    const first = await operationUntil(there.operation_id, (o) => o.result?.source_removed_at != null);
    expect(first.result?.source_removed_at).toBeTruthy();
    expect(await schemaChecksums(bounced.url, bounced.schema)).toEqual(before);
    expect(await tenantRowsIn(stack, 'us-east-1', bounced.tenantId, bounced.schema)).toMatchObject({
      workspace: 1,
      schema: true,
    });
    expect(await tenantRowsIn(stack, 'eu-west-1', bounced.tenantId, bounced.schema)).toEqual(NO_ROWS);
  }, 60_000);
});

describe('the tenant API during a migration', () => {
  const email = `migrating-${randomUUID().slice(0, 8)}@migration.test`;
  const password = 'Migrate-Password-1';
  let tenantId: string;
  let token: string;
  const tenantCall = (method: string, path: string, body?: unknown) =>
    fetch(`${stack.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const login = () =>
    fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });

  beforeAll(async () => {
    const registered = await fetch(`${stack.url}/api/auth/register-organization`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        organization_name: 'Migrating Writers',
        admin_email: email,
        admin_password: password,
        plan: 'pro',
        region: 'us-east-1',
      }),
    });
    expect(registered.status).toBe(202);
    tenantId = ((await registered.json()) as { tenant_id: string }).tenant_id;
    await eventually(
      () => (stack.gateway!.deps.directory.get(tenantId)?.status === 'active' ? true : undefined),
      20_000,
    );
    token = ((await (await login()).json()) as { access_token: string }).access_token;
  }, 30_000);

  it('refuses writes with 503 and Retry-After while frozen, serves reads, and takes writes at the target after', async () => {
    const seen: { write: number; retryAfter: string | null; code?: string; read: number }[] = [];
    whileFrozen = async () => {
      const watcher = stack.gateway!.deps.freezes;
      await eventually(() => watcher.check(tenantId), 2_000);
      const write = await tenantCall('POST', '/api/tenant/api-keys', { name: 'during the freeze' });
      const body = (await write.json()) as { code?: string };
      const read = await tenantCall('GET', '/api/tenant/me');
      seen.push({
        write: write.status,
        retryAfter: write.headers.get('retry-after'),
        ...(body.code ? { code: body.code } : {}),
        read: read.status,
      });
    };
    const response = await migrate(tenantId, { target_region: 'eu-west-1' });
    expect(response.status).toBe(202);
    const { operation_id } = (await response.json()) as { operation_id: string };
    await operationUntil(operation_id, (o) => o.status === 'succeeded');
    expect(seen).toEqual([{ write: 503, retryAfter: '5', code: 'TTM_TENANT_WRITES_FROZEN', read: 200 }]);

    await eventually(() =>
      stack.gateway!.deps.directory.get(tenantId)?.placement?.region === 'eu-west-1' ? true : undefined,
    );
    expect((await tenantCall('POST', '/api/tenant/api-keys', { name: 'after the move' })).status).toBe(201);
    expect((await tenantCall('GET', '/api/tenant/me')).status).toBe(200);
    // The password is read from the workspace at its new placement.
    expect((await login()).status).toBe(200);
  }, 60_000);
});
