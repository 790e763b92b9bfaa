import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  changeWorkspaceVersion,
  referenceFingerprints,
  schemaFingerprints,
  schemaVersionOf,
  WORKSPACE_SCHEMA_VERSION,
  workspaceSchemaName,
} from '@ttm/data-plane';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import {
  backUp,
  registerTenant,
  restoreAndWait,
  schemaChecksums,
  seedTenant,
  startBackupStack,
  type TestTenant,
  withClient,
} from './support/fixtures.js';

const N = WORKSPACE_SCHEMA_VERSION;
let stack: TestStack;
let nc: NatsConnection;
let tenant: TestTenant;
let pool: pg.Pool;

beforeAll(async () => {
  ({ stack, nc } = await startBackupStack({ backup: true }));
  tenant = await registerTenant(stack, nc);
  await seedTenant(tenant, 100, 100);
  pool = new pg.Pool({ connectionString: tenant.url, max: 2 });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await stopConnectedStack({ stack, nc });
});

async function restore(backupId: string, mode: 'clone' | 'in-place'): Promise<string> {
  const targetTenantId = mode === 'clone' ? randomUUID() : tenant.tenantId;
  const { end } = await restoreAndWait(nc, backupId, { mode, ...(mode === 'clone' ? { targetTenantId } : {}) });
  expect(end.type, JSON.stringify(end.data)).toBe('ttm.backup.restore-completed.v1');
  return targetTenantId;
}

describe('restoring a backup taken at schema version N-1 into a fleet at N', () => {
  it('upgrades the restored tenant as part of the restore, in place and as a clone', async () => {
    expect(await schemaVersionOf(pool, tenant.tenantId)).toBe(N);
    await changeWorkspaceVersion(pool, { workspaceId: tenant.tenantId, to: N - 1 });
    const { backupId, manifest } = await backUp(nc, tenant.tenantId);
    expect(manifest.schemaVersion).toBe(N - 1);

    // The fleet moves on to N; then the tenant's data changes after the backup.
    await changeWorkspaceVersion(pool, { workspaceId: tenant.tenantId, to: N });
    const atBackup = await schemaChecksums(tenant.url, tenant.schema);
    await withClient(tenant.url, async (c) => {
      await c.query(`DELETE FROM ${tenant.schema}.person WHERE "nameLastName" LIKE 'Company 1%'`);
      await c.query(`INSERT INTO ${tenant.schema}.note (title) VALUES ('after the backup')`);
    });

    await restore(backupId, 'in-place');
    const client = await pool.connect();
    const references = await referenceFingerprints(client).finally(() => client.release());
    expect(await schemaVersionOf(pool, tenant.tenantId)).toBe(N);
    expect((await schemaFingerprints(pool, [tenant.schema])).get(tenant.schema)).toBe(references.get(N));
    expect(await schemaChecksums(tenant.url, tenant.schema)).toEqual(atBackup);

    const cloneId = await restore(backupId, 'clone');
    const cloneSchema = workspaceSchemaName(cloneId);
    expect(await schemaVersionOf(pool, cloneId)).toBe(N);
    expect((await schemaFingerprints(pool, [cloneSchema])).get(cloneSchema)).toBe(references.get(N));
    expect(await schemaChecksums(tenant.url, cloneSchema)).toEqual(atBackup);
  }, 90_000);
});
