import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Streams, Subjects } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appendEvents,
  ConcurrencyConflict,
  type Decider,
  handleCommand,
  readAggregate,
  type StoredEvent,
} from '../src/commandHandling/eventStore.js';
import { natsHeadersFrom } from '../src/messaging.js';
import { startJetStream, suspension, type TestJetStream } from './support/jetstream.js';

let nats: TestJetStream;

beforeAll(async () => {
  nats = await startJetStream([Streams.EVENTS]);
});

afterAll(async () => {
  await nats?.close();
});

async function countOnSubject(subject: string): Promise<number> {
  const info = await nats.jsm.streams.info(Streams.EVENTS, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

describe('appendEvents', () => {
  it('keeps exactly one of 20 concurrent appends that expect the same sequence; the others conflict', async () => {
    const tenantId = randomUUID();
    const subject = Subjects.tenantEvents(tenantId);
    const events = Array.from({ length: 20 }, (_, i) => suspension(tenantId, `writer ${i}`));

    const results = await Promise.allSettled(events.map((event) => appendEvents(nats.js, subject, [event], 0)));

    const stored = results.filter((r) => r.status === 'fulfilled');
    const conflicts = results.filter((r) => r.status === 'rejected');
    expect(stored).toHaveLength(1);
    expect(conflicts).toHaveLength(19);
    for (const conflict of conflicts) {
      expect(conflict.reason).toBeInstanceOf(ConcurrencyConflict);
      expect(conflict.reason).toMatchObject({ subject, expectedLastSeq: 0 });
    }
    // Nothing silently lost or added: the stream holds exactly the one that was acknowledged.
    const winner = results.findIndex((r) => r.status === 'fulfilled');
    const aggregate = await readAggregate(nats.js, subject);
    expect(await countOnSubject(subject)).toBe(1);
    expect(aggregate.events).toHaveLength(1);
    expect(aggregate.events[0]?.meta.id).toBe(events[winner]?.meta.id);
    expect(aggregate.lastSeq).toBe((stored[0] as PromiseFulfilledResult<{ lastSeq: number }>).value.lastSeq);
  });

  it('chains several events on the sequence of the previous one and refuses a stale expectation', async () => {
    const tenantId = randomUUID();
    const subject = Subjects.tenantEvents(tenantId);
    const first = await appendEvents(nats.js, subject, [suspension(tenantId, 'a'), suspension(tenantId, 'b')], 0);
    const second = await appendEvents(nats.js, subject, [suspension(tenantId, 'c')], first.lastSeq);

    const stale = appendEvents(nats.js, subject, [suspension(tenantId, 'd')], first.lastSeq);
    await expect(stale).rejects.toBeInstanceOf(ConcurrencyConflict);
    await expect(stale).rejects.toMatchObject({ expectedLastSeq: first.lastSeq, actualLastSeq: second.lastSeq });

    const aggregate = await readAggregate(nats.js, subject);
    expect(aggregate.events.map((e) => (e.data as { reason: string }).reason)).toEqual(['a', 'b', 'c']);
    expect(aggregate.lastSeq).toBe(second.lastSeq);
    expect(aggregate.events.every((e) => e.type === 'ttm.tenant.suspended.v1')).toBe(true);
  });

  it('stores a republished event once (ce-id is the Nats-Msg-Id)', async () => {
    const tenantId = randomUUID();
    const subject = Subjects.tenantEvents(tenantId);
    const event = suspension(tenantId, 'once');
    const first = await appendEvents(nats.js, subject, [event], 0);
    const again = await appendEvents(nats.js, subject, [event], 0);
    expect(again.lastSeq).toBe(first.lastSeq);
    expect(await countOnSubject(subject)).toBe(1);
  });
});

describe('readAggregate', () => {
  it('answers lastSeq 0 and no events for a subject without events', async () => {
    const result = await readAggregate(nats.js, Subjects.tenantEvents(randomUUID()));
    expect(result).toEqual({ events: [], lastSeq: 0 });
  });

  it('reads only its own subject, in order, and leaves no consumer behind', async () => {
    const mine = randomUUID();
    const other = randomUUID();
    let last = 0;
    let otherLast = 0;
    for (let i = 0; i < 30; i++) {
      last = (await appendEvents(nats.js, Subjects.tenantEvents(mine), [suspension(mine, `m${i}`)], last)).lastSeq;
      otherLast = (await appendEvents(nats.js, Subjects.tenantEvents(other), [suspension(other, `o${i}`)], otherLast))
        .lastSeq;
    }
    const { events, lastSeq } = await readAggregate(nats.js, Subjects.tenantEvents(mine));
    expect(events.map((e) => (e.data as { reason: string }).reason)).toEqual(
      Array.from({ length: 30 }, (_, i) => `m${i}`),
    );
    expect(lastSeq).toBe(last);
    const seqs = events.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect((await nats.jsm.streams.info(Streams.EVENTS)).state.consumer_count).toBe(0);
  });
});

describe('handleCommand', () => {
  /** Counts suspensions; each decision records how many it saw, so a lost update shows as a repeated count. */
  type State = { seen: number };
  type Command = { writer: number };
  type Event = { reason: string };
  const decider: Decider<State, Command, Event> = {
    initialState: () => ({ seen: 0 }),
    evolve: (state) => ({ seen: state.seen + 1 }),
    decide: (command, state) => [{ reason: `${state.seen}:writer-${command.writer}` }],
  };

  it('stores all of 20 concurrent commands on one aggregate, each deciding on everything before it', async () => {
    const tenantId = randomUUID();
    const subject = Subjects.tenantEvents(tenantId);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, writer) =>
        handleCommand({
          js: nats.js,
          subject,
          decider,
          command: { writer },
          toEvent: (stored: StoredEvent) => ({ reason: (stored.data as { reason: string }).reason }),
          encode: (event: Event) => suspension(tenantId, event.reason),
        }),
      ),
    );

    const { events, lastSeq } = await readAggregate(nats.js, subject);
    expect(events).toHaveLength(20);
    expect(await countOnSubject(subject)).toBe(20);
    // Each decision saw exactly the events stored before it: 0, 1, ..., 19 in stream order.
    const reasons = events.map((e) => (e.data as { reason: string }).reason);
    expect(reasons.map((r) => Number(r.split(':')[0]))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // Every writer got in exactly once.
    expect(new Set(reasons.map((r) => r.split(':')[1])).size).toBe(20);
    // The sequence chain is intact: each caller got the sequence its event was stored at.
    expect(results.map((r) => r.lastSeq).sort((a, b) => a - b)).toEqual(events.map((e) => e.seq));
    expect(Math.max(...results.map((r) => r.lastSeq))).toBe(lastSeq);
    for (const result of results) expect(result.state.seen).toBe(Number(result.events[0]?.reason.split(':')[0]) + 1);
  });

  it('rethrows the conflict after maxAttempts', async () => {
    const tenantId = randomUUID();
    const subject = Subjects.tenantEvents(tenantId);
    // Someone else appends between every read and our append.
    const meddling = new Proxy(nats.js, {
      get(target, property) {
        if (property === 'publish') {
          return async (...args: Parameters<JetStreamClient['publish']>) => {
            const other = suspension(tenantId, 'other writer');
            await target.publish(subject, other.body, { headers: natsHeadersFrom(other.headers) });
            return target.publish(...args);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const attempt = handleCommand({
      js: meddling,
      subject,
      decider,
      command: { writer: 1 },
      toEvent: (stored) => ({ reason: (stored.data as { reason: string }).reason }),
      encode: (event) => suspension(tenantId, event.reason),
      maxAttempts: 3,
      backoff: { baseMs: 5, maxMs: 10 },
    });
    await expect(attempt).rejects.toBeInstanceOf(ConcurrencyConflict);
    const { events } = await readAggregate(nats.js, subject);
    expect(events.map((e) => (e.data as { reason: string }).reason)).toEqual(Array(3).fill('other writer'));
  });

  it('appends nothing when the decider decides nothing', async () => {
    const tenantId = randomUUID();
    const subject = Subjects.tenantEvents(tenantId);
    const result = await handleCommand({
      js: nats.js,
      subject,
      decider: { ...decider, decide: () => [] },
      command: { writer: 1 },
      toEvent: (stored) => ({ reason: (stored.data as { reason: string }).reason }),
      encode: (event) => suspension(tenantId, event.reason),
    });
    expect(result).toEqual({ events: [], lastSeq: 0, state: { seen: 0 } });
    expect(await countOnSubject(subject)).toBe(0);
  });
});
