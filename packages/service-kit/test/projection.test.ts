import { randomUUID } from 'node:crypto';
import { encodeMessage, Streams, Subjects, TenantActivated, TenantSuspended } from '@ttm/contracts';
import pg from 'pg';
import { type Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ProjectionDefinition,
  projectionLag,
  readCheckpoint,
  replayProjection,
  runProjection,
} from '../src/consumers/index.js';
import { DeadLetterHeaders, natsHeadersFrom, publishMessage } from '../src/messaging.js';
import { createTestDatabase, type TestDatabase } from '../src/testing/database.js';
import {
  messagesOn,
  silentLogger,
  startJetStream,
  suspension,
  type TestJetStream,
  waitUntil,
} from './support/jetstream.js';
import { testProjectionConsumer } from './support/ledgerProjection.js';
import { expectStopWaitsForHeldHandler, handlerGate } from './support/shutdown.js';

const SCHEMA = 'projection_test';

let nats: TestJetStream;
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  nats = await startJetStream([Streams.EVENTS, Streams.DEADLETTER]);
  db = await createTestDatabase('ttm_test_projection');
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  await pool.query(`CREATE SCHEMA ${SCHEMA}`);
  // No unique key on purpose: an event applied twice shows up as two rows.
  await pool.query(
    `CREATE TABLE ${SCHEMA}.suspensions (projection text NOT NULL, seq bigint NOT NULL, tenant_id uuid NOT NULL, reason text NOT NULL)`,
  );
});

/** Runners a test started and did not stop (it failed first): stopped before the pool ends. */
const running = new Set<() => Promise<void>>();

afterAll(async () => {
  await Promise.all([...running].map((stop) => stop().catch(() => undefined)));
  await pool?.end();
  await db?.drop();
  await nats?.close();
});

/** A projection of suspensions on `evt.<aggregate>.>`, with a consumer quick to redeliver. */
function suspensionsProjection(
  name: string,
  options: { apply?: (event: { seq: number; reason: string }) => Promise<void> } = {},
): ProjectionDefinition {
  return {
    name,
    schema: SCHEMA,
    consumer: testProjectionConsumer(name, `test projection ${name}`, 3),
    async apply(client, event) {
      const data = event.data as { tenantId: string; reason: string };
      if (data.reason === 'poison') throw new Error('this event cannot be applied');
      await options.apply?.({ seq: event.seq, reason: data.reason });
      await client.query(`INSERT INTO ${SCHEMA}.suspensions VALUES ($1, $2, $3, $4)`, [
        name,
        event.seq,
        data.tenantId,
        data.reason,
      ]);
    },
    async reset(client) {
      await client.query(`DELETE FROM ${SCHEMA}.suspensions WHERE projection = $1`, [name]);
    },
  };
}

async function publish(aggregate: string, reasons: string[], tenants = [randomUUID()]): Promise<number[]> {
  const seqs: number[] = [];
  for (const [i, reason] of reasons.entries()) {
    const tenantId = tenants[i % tenants.length]!;
    const ack = await publishMessage(nats.js, Subjects.event(aggregate, tenantId), suspension(tenantId, reason));
    seqs.push(ack.seq);
  }
  return seqs;
}

async function rows(projection: string) {
  const { rows } = await pool.query<{ seq: string; tenant_id: string; reason: string }>(
    `SELECT seq, tenant_id, reason FROM ${SCHEMA}.suspensions WHERE projection = $1 ORDER BY seq, reason`,
    [projection],
  );
  return rows.map((r) => ({ seq: Number(r.seq), tenantId: r.tenant_id, reason: r.reason }));
}

function start(projection: ProjectionDefinition, beforeAck?: (seqs: readonly number[]) => void | Promise<void>) {
  const controller = new AbortController();
  const applied: number[] = [];
  const metrics = new Registry();
  const done = runProjection({
    js: nats.js,
    pool,
    projection,
    logger: silentLogger,
    signal: controller.signal,
    onApplied: (seq) => applied.push(seq),
    retry: { baseMs: 50, maxMs: 200 },
    metrics,
    standbyPollMs: 100,
    ...(beforeAck ? { beforeAck } : {}),
  });
  const outcomes = async (outcome: string) => {
    const counter = metrics.getSingleMetric('ttm_projection_events_total') as Counter | undefined;
    const values = (await counter?.get())?.values ?? [];
    return values.filter((v) => v.labels.outcome === outcome).reduce((sum, v) => sum + v.value, 0);
  };
  const stop = async () => {
    running.delete(stop);
    controller.abort();
    await done;
  };
  running.add(stop);
  return { applied, done, outcomes, stop };
}

describe('runProjection', () => {
  it('acknowledges the event types it does not handle without a transaction, and applies the others in order', async () => {
    const projection = { ...suspensionsProjection('selective'), handles: new Set([TenantSuspended.type]) };
    const tenantId = randomUUID();
    const activation = () =>
      encodeMessage(
        TenantActivated,
        { tenantId, actor: { kind: 'system', id: 'test' }, activatedAt: new Date().toISOString() },
        { source: '/ttm/test', subject: tenantId },
      );
    const subject = Subjects.event('selective', tenantId);
    const seqs: number[] = [];
    for (const message of [
      activation(),
      suspension(tenantId, 'a'),
      activation(),
      activation(),
      suspension(tenantId, 'b'),
    ]) {
      seqs.push((await publishMessage(nats.js, subject, message)).seq);
    }
    const runner = start(projection);
    await waitUntil('both suspensions applied', () => runner.applied.length === 2);
    await waitUntil('the activations skipped', async () => (await runner.outcomes('skipped')) === 3);
    await runner.stop();
    expect((await rows('selective')).map((r) => r.reason)).toEqual(['a', 'b']);
    expect(await readCheckpoint(pool, projection)).toBe(seqs[4]);
  });

  it('applies once an event delivered twice (its ack came after AckWait and it came again), with one instance applying', async () => {
    const projection = suspensionsProjection('twice');
    const seqs = await publish('twice', ['a', 'b', 'c']);
    // The instance holding the lead commits its first batch, then stalls past AckWait
    // before acking: JetStream delivers the batch again meanwhile.
    let stalled = false;
    const stallOnce = async () => {
      if (stalled) return;
      stalled = true;
      await new Promise((resolve) => setTimeout(resolve, 2_500));
    };
    const instances = [start(projection, stallOnce), start(projection, stallOnce)];
    const applied = () => instances.flatMap((i) => i.applied).sort((x, y) => x - y);
    const duplicates = async () =>
      (await Promise.all(instances.map((i) => i.outcomes('duplicate')))).reduce((a, b) => a + b);
    await waitUntil('all three applied', () => applied().length === 3);
    await waitUntil('the redelivery skipped', async () => (await duplicates()) >= 1);
    await Promise.all(instances.map((i) => i.stop()));

    expect(applied()).toEqual(seqs);
    // The other instance stood by.
    expect(instances.filter((i) => i.applied.length > 0)).toHaveLength(1);
    expect((await rows('twice')).map((r) => r.seq)).toEqual(seqs);
    expect(await readCheckpoint(pool, projection)).toBe(seqs[2]);
  });

  it('after a crash between commit and ack, a restarted runner applies every event exactly once', async () => {
    const projection = suspensionsProjection('crash');
    const seqs = await publish('crash', ['1', '2', '3']);
    const crashed = start(projection, (batch) => {
      if (batch.includes(seqs[2]!)) throw new Error('process killed before the ack');
    });
    await expect(crashed.done).rejects.toThrow('process killed before the ack');
    // Committed up to the third event, which was never acknowledged.
    expect(await readCheckpoint(pool, projection)).toBe(seqs[2]);
    seqs.push(...(await publish('crash', ['4', '5'])));

    const restarted = start(projection);
    await waitUntil('the rest applied', () => restarted.applied.includes(seqs[4]!));
    await waitUntil('the unacknowledged one skipped', async () => (await restarted.outcomes('duplicate')) >= 1);
    await restarted.stop();

    expect(restarted.applied).toEqual(seqs.slice(3));
    expect((await rows('crash')).map((r) => r.seq)).toEqual(seqs);
    const lag = await projectionLag({ js: nats.js, pool, projection });
    expect(lag).toMatchObject({ checkpoint: seqs[4], pending: 0 });
  });

  it('dead-letters a poison event after max_deliver attempts and an event breaking its contract at once, then moves on', async () => {
    const projection = suspensionsProjection('poison');
    const tenantId = randomUUID();
    const [ok1, poison, ok2] = await publish('poison', ['ok-1', 'poison', 'ok-2'], [tenantId]);
    const broken = suspension(tenantId, 'broken');
    const brokenAck = await nats.js.publish(Subjects.event('poison', tenantId), '{"tenantId":"not-a-uuid"}', {
      headers: natsHeadersFrom(broken.headers),
    });
    const [ok3] = await publish('poison', ['ok-3'], [tenantId]);

    const runner = start(projection);
    await waitUntil('the last good event applied', () => runner.applied.includes(ok3!));
    await runner.stop();

    expect(runner.applied).toEqual([ok1, ok2, ok3]);
    expect((await rows('poison')).map((r) => r.reason)).toEqual(['ok-1', 'ok-2', 'ok-3']);
    const dead = await messagesOn(nats.jsm, Streams.DEADLETTER, Subjects.deadLetter(Streams.EVENTS, 'poison'));
    expect(dead).toHaveLength(2);
    const bySeq = (seq: number | undefined) =>
      dead.find((d) => d.headers[DeadLetterHeaders.originalSeq] === String(seq));
    const [applyFailed, contract] = [bySeq(poison), bySeq(brokenAck.seq)];
    // Tried again in hand (the events behind it wait, in order): one delivery, three attempts.
    expect(applyFailed?.headers).toMatchObject({
      [DeadLetterHeaders.originalSubject]: Subjects.event('poison', tenantId),
      [DeadLetterHeaders.deliveryCount]: '1',
      'ce-type': 'ttm.tenant.suspended.v1',
    });
    expect(applyFailed?.headers[DeadLetterHeaders.reason]).toMatch(
      /apply failed on attempt 3 of 3: this event cannot be applied/,
    );
    expect(contract?.headers).toMatchObject({
      [DeadLetterHeaders.originalSeq]: String(brokenAck.seq),
      [DeadLetterHeaders.deliveryCount]: '1',
    });
    expect(contract?.headers[DeadLetterHeaders.reason]).toMatch(/breaks its contract.*tenantId/);
    expect(contract?.data).toBe('{"tenantId":"not-a-uuid"}');
  });

  it('applies many events in few transactions, each exactly once and in stream order', async () => {
    const projection = suspensionsProjection('batched');
    const tenants = Array.from({ length: 5 }, () => randomUUID());
    const seqs = await publish(
      'batched',
      Array.from({ length: 600 }, (_, i) => `b${i}`),
      tenants,
    );
    const runner = start(projection);
    await waitUntil('all applied', () => runner.applied.length === seqs.length, 60_000);
    await runner.stop();
    expect(runner.applied).toEqual(seqs);
    expect((await rows('batched')).map((r) => r.seq)).toEqual(seqs);
    expect(await readCheckpoint(pool, projection)).toBe(seqs.at(-1));
    // Longer than its 60 s wait: 600 events took over 30 s at a load average near 38.
  }, 120_000);

  it('lets one instance apply at a time; another takes over when it stops', async () => {
    const projection = suspensionsProjection('takeover');
    const first = start(projection);
    const second = start(projection);
    const tenant = randomUUID();
    const early = await publish('takeover', ['e1', 'e2', 'e3'], [tenant]);
    const all = () => [...first.applied, ...second.applied].sort((a, b) => a - b);
    await waitUntil('the early events applied', () => all().length === early.length);
    const [leader, standby] = first.applied.length > 0 ? [first, second] : [second, first];
    expect(standby.applied).toEqual([]);
    await leader.stop();
    const late = await publish('takeover', ['l1', 'l2'], [tenant]);
    await waitUntil('the standby applied the later events', () => standby.applied.length === late.length, 30_000);
    await standby.stop();
    expect(all()).toEqual([...early, ...late]);
    expect((await rows('takeover')).map((r) => r.seq)).toEqual([...early, ...late]);
  });

  it('on shutdown finishes the batch in hand and takes no other', async () => {
    const gate = handlerGate();
    const projection = suspensionsProjection('shutdown', {
      apply: async ({ reason }) => {
        if (reason === 'slow') await gate.hold();
      },
    });
    const tenant = randomUUID();
    const [slow] = await publish('shutdown', ['slow'], [tenant]);
    const runner = start(projection);
    await gate.entered;
    const [after] = await publish('shutdown', ['after'], [tenant]);
    await expectStopWaitsForHeldHandler(runner, gate);
    expect(runner.applied).toEqual([slow]);
    expect(await readCheckpoint(pool, projection)).toBe(slow);

    const resumed = start(projection);
    await waitUntil('the next event applied after restart', () => resumed.applied.includes(after!));
    await resumed.stop();
    expect((await rows('shutdown')).map((r) => r.seq)).toEqual([slow, after]);
  });
});

describe('replayProjection', () => {
  it('rebuilds from zero the same rows as the live run, and the runner resumes after it', async () => {
    const projection = suspensionsProjection('replay');
    const tenants = [randomUUID(), randomUUID(), randomUUID()];
    const seqs = await publish(
      'replay',
      Array.from({ length: 12 }, (_, i) => `r${i}`),
      tenants,
    );
    await publish('elsewhere', ['not mine']);
    const live = start(projection);
    await waitUntil('the live run caught up', () => live.applied.length === seqs.length);
    await live.stop();
    const liveRows = await rows('replay');
    expect(liveRows).toHaveLength(12);

    const result = await replayProjection({ nc: nats.nc, pool, projection, logger: silentLogger });

    expect(result).toEqual({ applied: 12, lastSeq: seqs[11] });
    expect(await rows('replay')).toEqual(liveRows);
    expect(await readCheckpoint(pool, projection)).toBe(seqs[11]);

    const [next] = await publish('replay', ['r12'], tenants);
    const resumed = start(projection);
    await waitUntil('the new event applied', () => resumed.applied.includes(next!));
    await resumed.stop();
    expect(resumed.applied).toEqual([next]);
    expect((await rows('replay')).map((r) => r.seq)).toEqual([...seqs, next]);
  });

  it('rebuilds an empty projection from an empty filter', async () => {
    const projection = suspensionsProjection('empty');
    const result = await replayProjection({ nc: nats.nc, pool, projection, logger: silentLogger });
    expect(result).toEqual({ applied: 0, lastSeq: 0 });
  });
});
