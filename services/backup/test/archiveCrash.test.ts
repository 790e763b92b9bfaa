import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ArchiveTenantWorkspace, Consumers, Streams, Subjects } from '@ttm/contracts';
import { readAggregate } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortenAckWait, startCrashing } from '../../../test/support/crashing.js';
import { freezeOf } from '../../../test/support/migrations.js';
import { eventually, startConnectedStack, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import {
  ADMIN,
  registerTenant,
  restoreAndWait,
  schemaChecksums,
  seedTenant,
  send,
  type TestTenant,
  untilEvent,
  withClient,
} from './support/fixtures.js';

const crashing = fileURLToPath(new URL('./support/crashingArchive.ts', import.meta.url));

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  ({ stack, nc, js } = await startConnectedStack({
    gateway: false,
    backup: false,
    env: { BACKUP_SCHEDULE_EVERY: '0' },
  }));
  await shortenAckWait(nc, Streams.COMMANDS, Consumers.backupCommands);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

async function archivedEvents(tenantId: string): Promise<number> {
  const { events } = await readAggregate(js, Subjects.tenantEvents(tenantId));
  return events.filter((e) => e.type === 'ttm.tenant.archived.v1').length;
}

async function schemaPresent(t: TestTenant): Promise<boolean> {
  return withClient(t.url, async (c) => {
    const { rows } = await c.query<{ present: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS present', [
      t.schema,
    ]);
    return rows[0]!.present;
  });
}

/**
 * SIGKILL the backup service at `step` of an archive, look at the tenant as the crash left it,
 * let a healthy service finish the redelivered command, then bring the tenant back.
 */
describe('backup service killed mid-archive', () => {
  for (const step of ['backed-up', 'recorded'] as const) {
    it(`after "${step}": the tenant is live or archived and restorable, never lost`, async () => {
      const tenant = await registerTenant(stack, nc);
      await seedTenant(tenant, 40, 20);
      const before = await schemaChecksums(tenant.url, tenant.schema);

      const { exited } = startCrashing(crashing, { ...stack.env, CRASH_AT_ARCHIVE_STEP: step });
      const archiveId = randomUUID();
      await send(nc, ArchiveTenantWorkspace, {
        archiveId,
        tenantId: tenant.tenantId,
        reason: 'idle',
        actor: ADMIN,
        requestedAt: new Date().toISOString(),
      });
      expect(await exited).toBe('killed');

      // As the crash left it: the backup is verified either way; the data is all still there.
      await untilEvent(js, archiveId, 'ttm.backup.verified.v1', (d) => d.result === 'ok');
      expect(await schemaPresent(tenant)).toBe(true);
      expect(await schemaChecksums(tenant.url, tenant.schema)).toEqual(before);
      // Live (not recorded archived) before the record; archived (with its verified backup) after it.
      expect(await archivedEvents(tenant.tenantId)).toBe(step === 'recorded' ? 1 : 0);

      await stack.startBackup();
      try {
        // The redelivered command finishes the archive once: recorded once, schema dropped, freeze lifted.
        await eventually(async () => ((await schemaPresent(tenant)) ? undefined : true), 30_000);
        expect(await archivedEvents(tenant.tenantId)).toBe(1);
        await eventually(async () => ((await freezeOf(nc, tenant.tenantId)) === undefined ? true : undefined));

        const { end } = await restoreAndWait(nc, archiveId, { mode: 'in-place' }, 60_000);
        expect(end.type, JSON.stringify(end.data)).toBe('ttm.backup.restore-completed.v1');
        expect(await schemaChecksums(tenant.url, tenant.schema)).toEqual(before);
      } finally {
        await stack.stopBackup();
      }
    }, 120_000);
  }
});
