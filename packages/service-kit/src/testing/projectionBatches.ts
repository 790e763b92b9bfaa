import { randomUUID } from 'node:crypto';
import { TenantEvents } from '@ttm/contracts';
import pg from 'pg';
import type { ProjectionDefinition } from '../consumers/index.js';
import { createLogger } from '../logger.js';
import type { ReceivedEvent } from '../messaging.js';
import { inTransaction, keepClientErrors, migrate } from '../postgres.js';
import { createTestDatabase } from './database.js';

/** One event of an aggregate's history, before it is given a place in the stream. */
export interface HistoryEvent {
  type: string;
  data: object;
  time: string;
}

/**
 * The histories of several aggregates (each `subject` with its events in order) as one stream:
 * round-robin over them with an uneven stride, so batches mix aggregates and types and hold
 * several events of one aggregate.
 */
export function interleave(
  histories: readonly { subject: string; events: readonly HistoryEvent[] }[],
): ReceivedEvent[] {
  const out: ReceivedEvent[] = [];
  const queues = histories.map(({ subject, events }) => events.map((event) => ({ subject, event })));
  for (let turn = 0; queues.some((q) => q.length > 0); turn++) {
    const q = queues[(turn * 7) % queues.length] ?? [];
    const next = q.shift() ?? queues.find((other) => other.length > 0)?.shift();
    if (!next) continue;
    out.push({
      meta: { id: randomUUID(), type: next.event.type, time: next.event.time } as ReceivedEvent['meta'],
      data: next.event.data,
      seq: out.length + 1,
      subject: next.subject,
      deliveryCount: 1,
    });
  }
  return out;
}

/**
 * Every tenant event type, for `tenants` tenants, interleaved: registration, steps, a failure and
 * retry, provisioning, archive and unarchive, suspension, one or two moves, activation.
 */
export function tenantHistory(tenants: number): ReceivedEvent[] {
  return interleave(
    Array.from({ length: tenants }, (_, n) => {
      const actor = { kind: 'admin', id: 'ops@operator.example' };
      const tenantId = randomUUID();
      const provisioningId = randomUUID();
      const at = (s: number) => new Date(Date.UTC(2026, 11, 5, 12, 0, s)).toISOString();
      const placement = (region: string, cluster = `${region}-a`) => ({
        region,
        cluster,
        kind: 'schema' as const,
        database: 'twenty',
        schema: `workspace_${n}`,
      });
      const events: { type: string; data: object }[] = [
        {
          type: TenantEvents.registered.type,
          data: {
            tenantId,
            provisioningId,
            organizationName: `Org ${n}`,
            adminEmail: `admin${n}@example.test`,
            plan: n % 4 === 1 ? 'free' : 'pro',
            region: 'us-east-1',
            registeredAt: at(0),
          },
        },
        {
          type: TenantEvents.provisioningStepCompleted.type,
          data: { tenantId, provisioningId, step: 'reserve-slug', progress: 20, slug: `org-${n}`, completedAt: at(1) },
        },
        {
          type: TenantEvents.provisioningStepCompleted.type,
          data: {
            tenantId,
            provisioningId,
            step: 'place',
            progress: 40,
            placement: placement('us-east-1'),
            completedAt: at(2),
          },
        },
      ];
      if (n % 3 === 0) {
        events.push(
          {
            type: TenantEvents.provisioningFailed.type,
            data: { tenantId, provisioningId, step: 'create-workspace', reason: 'boom', failedAt: at(3) },
          },
          {
            type: TenantEvents.provisioningRetried.type,
            data: { tenantId, provisioningId, resumeAt: 'create-workspace', actor, retriedAt: at(4) },
          },
        );
      }
      events.push({
        type: TenantEvents.provisioned.type,
        data: {
          tenantId,
          provisioningId,
          slug: `org-${n}`,
          placement: placement('us-east-1'),
          durationMs: 5_000,
          provisionedAt: at(5),
        },
      });
      if (n % 5 === 0) {
        const backupId = randomUUID();
        events.push(
          {
            type: TenantEvents.archived.type,
            data: { tenantId, archiveId: randomUUID(), backupId, reason: 'operator', actor, archivedAt: at(6) },
          },
          {
            type: TenantEvents.unarchived.type,
            data: { tenantId, restoreId: randomUUID(), backupId, unarchivedAt: at(7) },
          },
        );
      }
      if (n % 7 === 3) {
        events.push({
          type: TenantEvents.archived.type,
          data: {
            tenantId,
            archiveId: randomUUID(),
            backupId: randomUUID(),
            reason: 'operator',
            actor,
            archivedAt: at(6),
          },
        });
      }
      if (n % 2 === 0) {
        events.push(
          { type: TenantEvents.suspended.type, data: { tenantId, reason: 'unpaid', actor, suspendedAt: at(8) } },
          {
            type: TenantEvents.placementChanged.type,
            data: {
              tenantId,
              migrationId: randomUUID(),
              from: placement('us-east-1'),
              to: placement('eu-west-1'),
              changedAt: at(9),
            },
          },
        );
        if (n % 4 === 0) {
          events.push({
            type: TenantEvents.placementChanged.type,
            data: {
              tenantId,
              from: placement('eu-west-1'),
              to: placement('eu-west-1', 'eu-west-1-b'),
              migrationId: randomUUID(),
              changedAt: at(9),
            },
          });
        }
        events.push({ type: TenantEvents.activated.type, data: { tenantId, actor, activatedAt: at(9) } });
      }
      return {
        subject: `evt.tenant.${tenantId}`,
        events: events.map((e, i) => ({ ...e, time: at(10 + i) })),
      };
    }),
  );
}

/**
 * Apply `events` to `one` one event per transaction (`apply`), and to `many` in batches of uneven
 * sizes as the runner cuts them (`applyMany`): the two databases should then hold the same rows.
 */
export async function applyOneByOneAndInBatches(
  projection: ProjectionDefinition,
  one: pg.Pool,
  many: pg.Pool,
  events: readonly ReceivedEvent[],
): Promise<void> {
  const applyMany = projection.applyMany?.bind(projection);
  if (!applyMany) throw new Error(`${projection.name} has no applyMany`);
  for (const event of events) await inTransaction(one, (client) => projection.apply(client, event));
  for (let start = 0, size = 1; start < events.length; start += size, size = (size * 5) % 97) {
    await inTransaction(many, (client) => applyMany(client, events.slice(start, start + size)));
  }
}

/** A fresh database with a service's schema migrated; `close` ends the pool and drops it. */
export async function migratedTestDatabase(
  prefix: string,
  schema: string,
  migrations: string,
): Promise<{ pool: pg.Pool; close: () => Promise<void> }> {
  const logger = createLogger('test', 'silent');
  const db = await createTestDatabase(prefix);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // A connection pg-pool is still closing when the database is dropped reports an error: expected here.
  keepClientErrors(pool, logger);
  try {
    await migrate(pool, schema, migrations, logger);
  } catch (error) {
    await pool.end();
    await db.drop();
    throw error;
  }
  return {
    pool,
    close: async () => {
      await pool.end();
      await db.drop();
    },
  };
}
