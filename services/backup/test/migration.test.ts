import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { MigrateTenant, RegisterOrganization, Subjects } from '@ttm/contracts';
import { withDatabase } from '@ttm/data-plane';
import { readAggregate } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeOf, NO_ROWS, tenantRowsIn, untilMigration } from '../../../test/support/migrations.js';
import { eventually, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { q } from '../src/artifact/canonicalRows.js';
import { readTenantInfo } from '../src/shared/index.js';
import {
  backUp,
  backUpAndWait,
  migrationToEu,
  registerTenant,
  restoreAndWait,
  schemaChecksums,
  seedTenant,
  send,
  startBackupStack,
  withClient,
} from './support/fixtures.js';

let stack: TestStack;
let nc: NatsConnection;
/** Migrations whose target the verify hook damages. */
const tamper = new Set<string>();
/** What the in-place restore hook saw in the freeze bucket. */
const restoreFreezes: unknown[] = [];

beforeAll(async () => {
  ({ stack, nc } = await startBackupStack({
    env: { MIGRATION_SOURCE_GRACE: '0', BACKUP_VERIFY_AFTER_BACKUP: 'false' },
  }));
  await stack.startBackup({
    hooks: {
      beforeMigrationVerify: async (migrationId, target) => {
        if (!tamper.has(migrationId)) return;
        const url = withDatabase(stack.clusterUrls['eu-west-1'], target.database);
        await withClient(url, (c) =>
          c.query(
            `DELETE FROM ${q(target.schema)}.company WHERE id = (SELECT min(id::text)::uuid FROM ${q(target.schema)}.company)`,
          ),
        );
      },
      afterRestoreFrozen: async (restoreId) => {
        const tenantId = [...restoreTenants.entries()].find(([id]) => id === restoreId)?.[1];
        if (tenantId) restoreFreezes.push(await freezeOf(nc, tenantId));
      },
    },
  });
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

const restoreTenants = new Map<string, string>();

async function provisionedPlacement(tenantId: string) {
  const info = await eventually(async () => {
    const found = await readTenantInfo(jetstream(nc), tenantId);
    return found?.status === 'active' ? found : undefined;
  }, 20_000);
  return info.placement!;
}

describe('a migration whose verification fails', () => {
  it('rolls back: the partial target is dropped, the tenant stays at the source and takes writes again', async () => {
    const tenant = await registerTenant(stack, nc);
    await seedTenant(tenant, 120);
    const before = await schemaChecksums(tenant.url, tenant.schema);
    const source = await provisionedPlacement(tenant.tenantId);
    const command = migrationToEu(stack, tenant.tenantId, source);
    tamper.add(command.migrationId);
    await send(nc, MigrateTenant, command);

    const events = await untilMigration(nc, command.migrationId, [
      'ttm.migration.failed.v1',
      'ttm.migration.completed.v1',
    ]);
    const failed = events.at(-1)!;
    expect(failed.type).toBe('ttm.migration.failed.v1');
    expect(failed.data).toMatchObject({
      step: 'verify',
      reason: expect.stringContaining('workspace.company'),
      // The person of the deleted company lost its company (ON DELETE SET NULL): a difference too.
      mismatches: expect.arrayContaining([
        expect.objectContaining({
          scope: 'workspace',
          name: 'company',
          rows: 120,
          target: expect.objectContaining({ rows: 119 }),
        }),
      ]),
    });
    expect(events.map((e) => e.type)).not.toContain('ttm.migration.completed.v1');

    expect((await readTenantInfo(jetstream(nc), tenant.tenantId))?.placement).toEqual(source);
    const tenantEvents = await readAggregate(jetstream(nc), Subjects.tenantEvents(tenant.tenantId));
    expect(tenantEvents.events.map((e) => e.type)).not.toContain('ttm.tenant.placement-changed.v1');
    expect(await tenantRowsIn(stack, 'eu-west-1', tenant.tenantId, tenant.schema)).toEqual(NO_ROWS);
    expect(await schemaChecksums(tenant.url, tenant.schema)).toEqual(before);
    expect(await freezeOf(nc, tenant.tenantId)).toBeUndefined();
  }, 60_000);
});

describe('placement', () => {
  it('a tenant registered in eu-west-1 never has a row on a us-east-1 cluster', async () => {
    const tenantId = randomUUID();
    await send(nc, RegisterOrganization, {
      provisioningId: randomUUID(),
      tenantId,
      organizationName: `Eu Only ${tenantId.slice(0, 8)}`,
      adminEmail: `admin-${tenantId.slice(0, 8)}@eu.test`,
      adminPasswordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
      plan: 'pro',
      region: 'eu-west-1',
      requestedAt: new Date().toISOString(),
    });
    const placement = await provisionedPlacement(tenantId);
    expect(placement).toMatchObject({ region: 'eu-west-1', cluster: 'euw1-a' });
    // A backup of it (snapshot, verification scratch) stays in its region too.
    await backUpAndWait(nc, tenantId);
    const eu = await tenantRowsIn(stack, 'eu-west-1', tenantId, placement.schema);
    expect(eu).toMatchObject({ workspace: 1, users: 1, schema: true });
    expect(await tenantRowsIn(stack, 'us-east-1', tenantId, placement.schema)).toEqual(NO_ROWS);
    await withClient(stack.clusterUrls['us-east-1'], async (client) => {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE $1`,
        [`%${placement.schema.slice('workspace_'.length)}%`],
      );
      expect(rows[0]!.n).toBe(0);
    });
  }, 60_000);
});

describe('an in-place restore', () => {
  it('freezes the tenant writes while it replaces the data, and lifts the freeze after', async () => {
    const tenant = await registerTenant(stack, nc);
    await seedTenant(tenant, 30);
    const { backupId } = await backUp(nc, tenant.tenantId);
    const restoreId = randomUUID();
    restoreTenants.set(restoreId, tenant.tenantId);
    await restoreAndWait(nc, backupId, { mode: 'in-place', restoreId });
    expect(restoreFreezes).toEqual([
      expect.objectContaining({ reason: 'restore', operation_id: restoreId, retry_after_s: 5 }),
    ]);
    expect(await freezeOf(nc, tenant.tenantId)).toBeUndefined();
  }, 60_000);
});
