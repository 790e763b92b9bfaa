import { fileURLToPath } from 'node:url';
import { type JetStreamClient, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { type BackupManifest, backupBucketOf, Consumers, Streams, SubjectFilters } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortenAckWait, startCrashing } from '../../../test/support/crashing.js';
import { stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { backupObjectPrefix } from '../src/store/index.js';
import {
  askForBackup,
  backupEvents,
  registerTenant,
  seedTenant,
  startBackupStack,
  type TestTenant,
  untilEvent,
  withClient,
} from './support/fixtures.js';

const crashing = fileURLToPath(new URL('./support/crashingBackup.ts', import.meta.url));

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;
let tenant: TestTenant;

beforeAll(async () => {
  ({ stack, nc, js } = await startBackupStack());
  await shortenAckWait(nc, Streams.COMMANDS, Consumers.backupCommands);
  tenant = await registerTenant(stack, nc);
  await seedTenant(tenant, 200);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

/** Run the crashing service, send a backup command, and wait for the kill. */
async function backupKilledMidway(): Promise<string> {
  const { exited } = startCrashing(crashing, stack.env);
  const backupId = await askForBackup(nc, tenant.tenantId);
  expect(await exited).toBe('killed');
  return backupId;
}

async function objectsOf(backupId: string): Promise<string[]> {
  const bucket = await new Objm(nc).open(backupBucketOf('us-east-1'));
  const prefix = backupObjectPrefix(tenant.tenantId, backupId);
  return (await bucket.list()).filter((o) => !o.deleted && o.name.startsWith(prefix)).map((o) => o.name);
}

describe('backup service killed mid-backup', () => {
  it('lists nothing as good; the redelivered command takes the backup again and the stray artifact goes', async () => {
    const backupId = await backupKilledMidway();
    expect((await backupEvents(js, backupId)).map((e) => e.type)).toEqual(['ttm.backup.started.v1']);
    const strays = await objectsOf(backupId);
    expect(strays).toHaveLength(1);
    // The projection the listings read from has it running at most, never completed.
    const listed = await withClient(
      stack.db.url,
      async (c) =>
        (await c.query<{ status: string }>('SELECT status FROM backup.backups WHERE id = $1', [backupId])).rows,
    );
    expect(listed.filter((r) => r.status !== 'running')).toEqual([]);

    await stack.startBackup();
    try {
      const completed = await untilEvent(js, backupId, 'ttm.backup.completed.v1');
      const manifest = (completed.data as { manifest: BackupManifest }).manifest;
      await untilEvent(js, backupId, 'ttm.backup.verified.v1', (d) => d.result === 'ok');
      expect(manifest.objectName).not.toBe(strays[0]);
      expect(await objectsOf(backupId)).toEqual([manifest.objectName]);
      const types = (await backupEvents(js, backupId)).map((e) => e.type);
      expect(types.filter((t) => t === 'ttm.backup.completed.v1')).toHaveLength(1);
    } finally {
      await stack.stopBackup();
    }
  }, 40_000);

  it('a killed backup whose command is gone is recorded failed at the next start, and its artifact removed', async () => {
    const backupId = await backupKilledMidway();
    expect(await objectsOf(backupId)).toHaveLength(1);
    // As if the command had been dead-lettered: nothing will finish this backup.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge(Streams.COMMANDS, { filter: SubjectFilters.backupCommands });

    stack.env.BACKUP_STALE_AFTER = '1ms';
    await stack.startBackup();
    try {
      const failed = await untilEvent(js, backupId, 'ttm.backup.failed.v1');
      expect(failed.data).toMatchObject({ reason: expect.stringContaining('abandoned') });
      expect((await backupEvents(js, backupId)).map((e) => e.type)).not.toContain('ttm.backup.completed.v1');
      expect(await objectsOf(backupId)).toEqual([]);
    } finally {
      await stack.stopBackup();
      delete stack.env.BACKUP_STALE_AFTER;
    }
  }, 40_000);
});
