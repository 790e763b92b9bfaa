import { randomUUID } from 'node:crypto';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type BackupManifest,
  type CommandDefinition,
  CreateBackup,
  type DataOf,
  encodeMessage,
  type MigrateTenant,
  type Placement,
  RestoreBackup,
  Subjects,
} from '@ttm/contracts';
import { WORKSPACE_TABLES } from '@ttm/data-plane';
import { publishMessage, readAggregate, type StoredEvent } from '@ttm/service-kit';
import { expect } from 'vitest';
import type { z } from 'zod';
import {
  type ConnectedStack,
  eventually,
  startConnectedStack,
  type TestStack,
} from '../../../../test/support/stack.js';
import { withClient } from '../../../../test/support/tenants.js';
import { canonicalSelect, checksumOf, q, useCanonicalSession } from '../../src/artifact/canonicalRows.js';

// Tenants are registered and seeded by the shared test support, as every service's tests do.
export { registerTenant, seedTenant, type TestTenant, withClient } from '../../../../test/support/tenants.js';

export const ADMIN = { kind: 'admin', id: 'ops@test' } as const;

/**
 * The stack of the backup service's tests: no gateway, no backup schedule (unless `env` sets
 * one), and the backup service in-process only with `backup` (other tests start it themselves,
 * with hooks or as a process they kill).
 */
export function startBackupStack(
  options: { backup?: boolean; env?: Record<string, string> } = {},
): Promise<ConnectedStack> {
  return startConnectedStack({
    gateway: false,
    backup: options.backup ?? false,
    env: { BACKUP_SCHEDULE_EVERY: '0', ...options.env },
  });
}

/**
 * A MigrateTenant of a tenant from `source` to eu-west-1 (cluster euw1-a, the database of the
 * stack's eu-west-1 URL), keeping its schema name; send it with `send`.
 */
export function migrationToEu(stack: TestStack, tenantId: string, source: Placement): DataOf<typeof MigrateTenant> {
  return {
    migrationId: randomUUID(),
    tenantId,
    source,
    target: {
      ...source,
      region: 'eu-west-1',
      cluster: 'euw1-a',
      database: new URL(stack.clusterUrls['eu-west-1']).pathname.slice(1),
    },
    actor: ADMIN,
    requestedAt: new Date().toISOString(),
  };
}

export async function send<D extends CommandDefinition>(
  nc: NatsConnection,
  def: D,
  data: z.input<D['schema']>,
): Promise<void> {
  await publishMessage(jetstream(nc), def.subject, encodeMessage(def, data, { source: '/test' }));
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

/** Ask for an on-demand backup of the tenant; returns the backup's id. */
export async function askForBackup(nc: NatsConnection, tenantId: string, backupId = randomUUID()): Promise<string> {
  await send(nc, CreateBackup, {
    backupId,
    tenantId,
    trigger: 'on-demand',
    actor: ADMIN,
    requestedAt: new Date().toISOString(),
  });
  return backupId;
}

/**
 * Ask for an on-demand backup and wait for its end (completed or failed), which is returned with
 * the backup's id: the caller asserts on it.
 */
export async function backUpAndWait(
  nc: NatsConnection,
  tenantId: string,
  timeoutMs = 20_000,
): Promise<{ backupId: string; end: StoredEvent }> {
  const backupId = await askForBackup(nc, tenantId);
  const end = await untilEvent(
    jetstream(nc),
    backupId,
    ['ttm.backup.completed.v1', 'ttm.backup.failed.v1'],
    () => true,
    timeoutMs,
  );
  return { backupId, end };
}

/** An on-demand backup that must complete: its id and manifest. */
export async function backUp(
  nc: NatsConnection,
  tenantId: string,
): Promise<{ backupId: string; manifest: BackupManifest }> {
  const { backupId, end } = await backUpAndWait(nc, tenantId);
  expect(end.type, JSON.stringify(end.data)).toBe('ttm.backup.completed.v1');
  return { backupId, manifest: (end.data as { manifest: BackupManifest }).manifest };
}

/**
 * Ask for a restore of `backupId` (a new restore id unless `body` names one) and wait for its end
 * (completed or failed), which is returned with the restore's id: the caller asserts on it.
 */
export async function restoreAndWait(
  nc: NatsConnection,
  backupId: string,
  {
    restoreId = randomUUID(),
    ...body
  }: Omit<DataOf<typeof RestoreBackup>, 'backupId' | 'restoreId' | 'actor' | 'requestedAt'> & {
    restoreId?: string;
  },
  timeoutMs = 30_000,
): Promise<{ restoreId: string; end: StoredEvent }> {
  await send(nc, RestoreBackup, {
    backupId,
    restoreId,
    ...body,
    actor: ADMIN,
    requestedAt: new Date().toISOString(),
  });
  const end = await untilEvent(
    jetstream(nc),
    backupId,
    ['ttm.backup.restore-completed.v1', 'ttm.backup.restore-failed.v1'],
    (d) => d.restoreId === restoreId,
    timeoutMs,
  );
  return { restoreId, end };
}
