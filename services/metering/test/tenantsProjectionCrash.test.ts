import { fileURLToPath } from 'node:url';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { definitionOf, encodeMessage, Streams, streamDefinitions } from '@ttm/contracts';
import {
  createLogger,
  migrate,
  type ProjectionDefinition,
  publishMessage,
  readCheckpoint,
  replayProjection,
  streamConfigFor,
} from '@ttm/service-kit';
import { createTestDatabase, PrivateNatsServer, type TestDatabase, tenantHistory } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startCrashing } from '../../../test/support/crashing.js';
import { eventually } from '../../../test/support/stack.js';
import { METERING_SCHEMA, meteringTenantsProjection } from '../src/tenants/projection.js';

const crashing = fileURLToPath(new URL('./support/crashingTenantsProjection.ts', import.meta.url));
const migrations = new URL('../migrations', import.meta.url).pathname;
const logger = createLogger('test', 'silent');

let nats: PrivateNatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
const databases: TestDatabase[] = [];
const pools: pg.Pool[] = [];

/** A private nats-server with EVENTS empty: only this run's tenants in it. */
async function startEvents(): Promise<void> {
  await nc?.close();
  await nats?.stop();
  nats = await PrivateNatsServer.start();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  for (const def of streamDefinitions.filter((d) => d.name === Streams.EVENTS || d.name === Streams.DEADLETTER)) {
    await jsm.streams.add({
      ...streamConfigFor(def, { replicas: 1, usageMaxAgeMs: 3_600_000, deadLetterMaxAgeMs: 3_600_000, maxBytes: -1 }),
      name: def.name,
    });
  }
}

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  await Promise.all(databases.map((db) => db.drop()));
  await nc?.close();
  await nats?.stop();
});

async function meteringDatabase(): Promise<{ url: string; pool: pg.Pool }> {
  const db = await createTestDatabase('ttm_test_metering_tenants_crash');
  databases.push(db);
  const pool = new pg.Pool({ connectionString: db.url, max: 3 });
  pools.push(pool);
  await migrate(pool, METERING_SCHEMA, migrations, logger);
  return { url: db.url, pool };
}

/**
 * `tenants` tenants' whole history (every tenant event type, tenants interleaved) into EVENTS, in
 * order (one connection keeps the order of what it sends); returns their stream sequences.
 */
async function publishTenants(tenants: number): Promise<number[]> {
  const events = tenantHistory(tenants);
  const seqs: number[] = [];
  for (let start = 0; start < events.length; start += 200) {
    const acks = events.slice(start, start + 200).map((event) => {
      const definition = definitionOf(event.meta.type);
      if (!definition) throw new Error(`no definition of ${event.meta.type}`);
      const message = encodeMessage(definition, event.data, { source: '/ttm/test', time: new Date(event.meta.time) });
      return publishMessage(js, event.subject, message);
    });
    seqs.push(...(await Promise.all(acks)).map((ack) => ack.seq));
  }
  return seqs.sort((a, b) => a - b);
}

async function rows(pool: pg.Pool) {
  return (await pool.query(`SELECT * FROM ${METERING_SCHEMA}.tenants ORDER BY tenant_id`)).rows;
}

// The projection as the crashing process runs it (its ack wait shortened).
const projection: ProjectionDefinition = {
  ...meteringTenantsProjection,
  consumer: { ...meteringTenantsProjection.consumer, ackWaitSeconds: 1 },
};

describe.each([{ writesOnly: true }, { writesOnly: false }])(
  "metering's set-based tenants projection killed with SIGKILL (writes only: $writesOnly)",
  ({ writesOnly }) => {
    it('ends with the rows of one event at a time across kills mid-batch, between commit and ack, and at random; replay gives them again', async () => {
      await startEvents();
      const { url, pool } = await meteringDatabase();
      const run = { ...projection, writesOnly };
      const { durable } = run.consumer;
      const env = { NATS_URL: nats.url, DATABASE_URL: url, WRITES_ONLY: writesOnly ? '1' : '0', DURABLE: durable };
      const seqs = await publishTenants(300);
      const checkpoint = () => readCheckpoint(pool, run);

      // 1. Inside a batch's transaction, part of it applied: nothing of that batch may remain.
      const inApply = startCrashing(crashing, { ...env, KILL_IN_APPLY_AT: String(seqs[700]) });
      expect(await inApply.exited).toBe('killed');
      expect(await checkpoint()).toBeLessThan(seqs[700]!);
      expect((await rows(pool)).every((r) => Number(r.last_event_seq) < seqs[700]!)).toBe(true);

      // 2. After a commit, before any ack of that batch: it comes again and must be skipped.
      const beforeAck = startCrashing(crashing, { ...env, KILL_BEFORE_ACK_AT: String(seqs[1_500]) });
      expect(await beforeAck.exited).toBe('killed');
      expect(await checkpoint()).toBeGreaterThanOrEqual(seqs[1_500]!);

      // 3. At whatever moment the kill lands, while more tenants' events arrive.
      const running = startCrashing(crashing, env);
      const more = publishTenants(100);
      await eventually(async () => ((await checkpoint()) > seqs[2_000]! ? true : undefined), 300_000);
      running.child.kill('SIGKILL');
      expect(await running.exited).toBe('killed');
      seqs.push(...(await more));

      // 4. A last run drains it.
      const last = startCrashing(crashing, env);
      await eventually(async () => ((await checkpoint()) >= seqs.at(-1)! ? true : undefined), 300_000);
      last.child.kill('SIGTERM');
      expect(await last.exited).toBe('exit 0: ');
      const live = await rows(pool);

      // The same events one at a time into a fresh database (`apply`, no batches) give the same rows.
      const reference = await meteringDatabase();
      const { applyMany: _, ...oneAtATime } = run;
      await replayProjection({
        nc,
        pool: reference.pool,
        projection: { ...oneAtATime, consumer: { ...run.consumer, durable: `${durable}-one` } },
        logger,
      });
      const expected = await rows(reference.pool);
      expect(live).toHaveLength(400);
      expect(expected).toEqual(live);

      // 5. Rebuilt from the stream, the projection is the same.
      await replayProjection({ nc, pool, projection: run, logger });
      expect(await rows(pool)).toEqual(live);
    }, 900_000);
  },
);
