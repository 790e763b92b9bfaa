import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Consumers, MigrateTenant, Streams, Subjects } from '@ttm/contracts';
import { readAggregate } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortenAckWait, startCrashing } from '../../../test/support/crashing.js';
import { freezeOf, NO_ROWS, regionUrl, tenantRowsIn, untilMigration } from '../../../test/support/migrations.js';
import { stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { readTenantInfo } from '../src/shared/index.js';
import {
  migrationToEu,
  registerTenant,
  schemaChecksums,
  seedTenant,
  send,
  startBackupStack,
} from './support/fixtures.js';

const crashing = fileURLToPath(new URL('./support/crashingMigration.ts', import.meta.url));

let stack: TestStack;
let nc: NatsConnection;

beforeAll(async () => {
  ({ stack, nc } = await startBackupStack({
    env: { MIGRATION_SOURCE_GRACE: '0', BACKUP_VERIFY_AFTER_BACKUP: 'false' },
  }));
  await shortenAckWait(nc, Streams.COMMANDS, Consumers.backupMigrations);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

describe('backup service killed mid-migration', () => {
  for (const step of ['freeze', 'copy', 'verify', 'switch', 'unfreeze', 'remove-source']) {
    it(`ends with exactly one live copy after a crash right after ${step}`, async () => {
      const tenant = await registerTenant(stack, nc);
      await seedTenant(tenant, 80, 10);
      const before = await schemaChecksums(tenant.url, tenant.schema);
      const source = (await readTenantInfo(jetstream(nc), tenant.tenantId))!.placement!;
      const command = migrationToEu(stack, tenant.tenantId, source);

      const { exited } = startCrashing(crashing, { ...stack.env, CRASH_AFTER_MIGRATION_STEP: step });
      await send(nc, MigrateTenant, command);
      expect(await exited).toBe('killed');

      await stack.startBackup();
      try {
        // A restarted service is a new tsx process: on a loaded machine its start alone takes a while.
        const events = await untilMigration(
          nc,
          command.migrationId,
          ['ttm.migration.source-removed.v1', 'ttm.migration.failed.v1'],
          150_000,
        );
        const types = events.map((e) => e.type);
        expect(types[0]).toBe('ttm.migration.started.v1');
        expect(types.filter((t) => t === 'ttm.migration.step-completed.v1')).toHaveLength(5);
        expect(types.slice(-2)).toEqual(['ttm.migration.completed.v1', 'ttm.migration.source-removed.v1']);

        const tenantEvents = (await readAggregate(jetstream(nc), Subjects.tenantEvents(tenant.tenantId))).events;
        expect(tenantEvents.filter((e) => e.type === 'ttm.tenant.placement-changed.v1')).toHaveLength(1);
        expect((await readTenantInfo(jetstream(nc), tenant.tenantId))?.placement?.region).toBe('eu-west-1');

        expect(await tenantRowsIn(stack, 'eu-west-1', tenant.tenantId, tenant.schema)).toMatchObject({
          workspace: 1,
          users: 1,
          memberships: 1,
          roles: 2,
          roleTargets: 1,
          dataSources: 1,
          schema: true,
        });
        expect(await tenantRowsIn(stack, 'us-east-1', tenant.tenantId, tenant.schema)).toEqual(NO_ROWS);
        expect(await schemaChecksums(regionUrl(stack, 'eu-west-1'), tenant.schema)).toEqual(before);
        expect(await freezeOf(nc, tenant.tenantId)).toBeUndefined();
      } finally {
        await stack.stopBackup();
      }
    }, 180_000);
  }
});
