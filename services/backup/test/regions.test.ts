import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { type BackupManifest, MigrateTenant } from '@ttm/contracts';
import { withDatabase } from '@ttm/data-plane';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilMigration } from '../../../test/support/migrations.js';
import { stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { readTenantInfo } from '../src/shared/index.js';
import {
  backUp,
  migrationToEu,
  registerTenant,
  restoreAndWait,
  schemaChecksums,
  seedTenant,
  send,
  startBackupStack,
  type TestTenant,
  untilEvent,
  withClient,
} from './support/fixtures.js';

let stack: TestStack;
let nc: NatsConnection;
/** BACKUP_DIR: us-east-1 gets <dir>/us-east-1 from BACKUP_STORE=file. */
let dir: string;
/** eu-west-1's own directory, named in BACKUP_STORES. */
let euDir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ttm-regions-'));
  euDir = await mkdtemp(join(tmpdir(), 'ttm-regions-eu-'));
  ({ stack, nc } = await startBackupStack({
    env: {
      BACKUP_VERIFY_AFTER_BACKUP: 'false',
      MIGRATION_SOURCE_GRACE: '0',
      BACKUP_STORE: 'file',
      BACKUP_DIR: dir,
      BACKUP_STORES: JSON.stringify({ 'eu-west-1': { kind: 'file', dir: euDir } }),
    },
  }));
  await stack.startBackup();
}, 60_000);

afterAll(async () => {
  await stopConnectedStack({ stack, nc });
  await rm(dir, { recursive: true, force: true });
  await rm(euDir, { recursive: true, force: true });
});

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1));
}

async function restore(backupId: string, body: { mode: 'clone' | 'in-place'; targetRegion?: string }) {
  return (await restoreAndWait(nc, backupId, body, 40_000)).end;
}

describe('per-region backup stores', () => {
  let tenant: TestTenant;
  let usBackup: { backupId: string; manifest: BackupManifest };
  let atBackup: Awaited<ReturnType<typeof schemaChecksums>>;

  it("writes a backup to its tenant's region's store only", async () => {
    tenant = await registerTenant(stack, nc); // us-east-1
    await seedTenant(tenant, 40);
    atBackup = await schemaChecksums(tenant.url, tenant.schema);
    usBackup = await backUp(nc, tenant.tenantId);
    expect(usBackup.manifest.placement.region).toBe('us-east-1');
    expect(await filesUnder(join(dir, 'us-east-1'))).toEqual([usBackup.manifest.objectName]);
    expect(await filesUnder(euDir)).toEqual([]);
    expect(await filesUnder(join(dir, 'eu-west-1'))).toEqual([]);
  }, 60_000);

  it('refuses a clone into another region, recorded as a failed restore', async () => {
    const refused = await restore(usBackup.backupId, { mode: 'clone', targetRegion: 'eu-west-1' });
    expect(refused.type).toBe('ttm.backup.restore-failed.v1');
    expect(refused.data).toMatchObject({ reason: expect.stringContaining('stays in its region us-east-1') });
    const inPlace = await restore(usBackup.backupId, { mode: 'in-place', targetRegion: 'eu-west-1' });
    expect(inPlace.type).toBe('ttm.backup.restore-failed.v1');
  }, 60_000);

  it('once the tenant itself is moved: its new backups go to the new region, old ones restore there', async () => {
    const js = jetstream(nc);
    const source = (await readTenantInfo(js, tenant.tenantId))!.placement!;
    const command = migrationToEu(stack, tenant.tenantId, source);
    await send(nc, MigrateTenant, command);
    const events = await untilMigration(nc, command.migrationId, [
      'ttm.migration.completed.v1',
      'ttm.migration.failed.v1',
    ]);
    expect(events.at(-1)!.type).toBe('ttm.migration.completed.v1');
    const euUrl = withDatabase(stack.clusterUrls['eu-west-1'], command.target.database);

    // Rows written after the backup, in the new region.
    await withClient(euUrl, (c) => c.query(`INSERT INTO "${tenant.schema}".company (name) VALUES ('after the move')`));
    const euBackup = await backUp(nc, tenant.tenantId);
    expect(euBackup.manifest.placement.region).toBe('eu-west-1');
    expect(await filesUnder(euDir)).toEqual([euBackup.manifest.objectName]);
    expect(await filesUnder(join(dir, 'us-east-1'))).toEqual([usBackup.manifest.objectName]);

    // The backup taken in us-east-1 restores in place into the tenant's new region...
    const inPlace = await restore(usBackup.backupId, { mode: 'in-place' });
    expect(inPlace.type).toBe('ttm.backup.restore-completed.v1');
    expect(await schemaChecksums(euUrl, tenant.schema)).toEqual(atBackup);
    // ...and clones there too, but not into the region the tenant left.
    const clone = await restore(usBackup.backupId, { mode: 'clone' });
    expect(clone.type).toBe('ttm.backup.restore-completed.v1');
    const started = await untilEvent(
      js,
      usBackup.backupId,
      'ttm.backup.restore-started.v1',
      (d) => d.restoreId === (clone.data as { restoreId: string }).restoreId,
    );
    expect(started.data).toMatchObject({ targetPlacement: { region: 'eu-west-1', cluster: 'euw1-a' } });
    const back = await restore(usBackup.backupId, { mode: 'clone', targetRegion: 'us-east-1' });
    expect(back.type).toBe('ttm.backup.restore-failed.v1');
    expect(back.data).toMatchObject({ reason: expect.stringContaining('stays in its region eu-west-1') });
    expect(await filesUnder(join(dir, 'eu-west-1'))).toEqual([]);
  }, 120_000);
});
