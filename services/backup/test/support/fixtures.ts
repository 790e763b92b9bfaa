import { randomUUID } from 'node:crypto';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { type CommandDefinition, type DataOf, encodeMessage, RestoreBackup, Subjects } from '@ttm/contracts';
import { WORKSPACE_TABLES } from '@ttm/data-plane';
import { publishMessage, readAggregate, type StoredEvent } from '@ttm/service-kit';
import type { z } from 'zod';
import { eventually } from '../../../../test/support/stack.js';
import { withClient } from '../../../../test/support/tenants.js';
import { canonicalSelect, checksumOf, q, useCanonicalSession } from '../../src/artifact/canonicalRows.js';

// Tenants are registered and seeded by the shared test support, as every service's tests do.
export { registerTenant, seedTenant, type TestTenant, withClient } from '../../../../test/support/tenants.js';

export const ADMIN = { kind: 'admin', id: 'ops@test' } as const;

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

/**
 * Ask for a restore of `backupId` and wait for its end (completed or failed), which is returned
 * with the restore's id: the caller asserts on it.
 */
export async function restoreAndWait(
  nc: NatsConnection,
  backupId: string,
  body: Omit<DataOf<typeof RestoreBackup>, 'backupId' | 'restoreId' | 'actor' | 'requestedAt'>,
  timeoutMs = 30_000,
): Promise<{ restoreId: string; end: StoredEvent }> {
  const restoreId = randomUUID();
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
