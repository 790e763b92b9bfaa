import { randomUUID } from 'node:crypto';
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { type Granularity, Streams, Subjects, WindowClosed, windowClosedEventId } from '@ttm/contracts';
import { decodeReceived } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { publishUsage, usageDrained } from '../../../test/support/usage.js';
import { windowOf } from '../src/windows/windowMath.js';
import { startMeteringStack } from './support/stack.js';

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  ({ stack, nc, js } = await startMeteringStack({ METERING_WINDOW_GRACE: '5m' }));
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

interface Billed {
  id: string;
  granularity: Granularity;
  windowStart: string;
  value: number;
}

/** Every window-closed event of a tenant on BILLING, in stream order. */
async function billed(tenantId: string): Promise<Billed[]> {
  const consumer = await js.consumers.get(Streams.BILLING, {
    filter_subjects: Subjects.billing(tenantId, 'api_calls'),
    deliver_policy: DeliverPolicy.All,
  });
  const pending = (await consumer.info(true)).num_pending;
  const result: Billed[] = [];
  if (pending > 0) {
    for await (const msg of await consumer.fetch({ max_messages: pending, expires: 2_000 })) {
      const event = decodeReceived(msg, { kind: 'event' });
      expect(event.meta.type).toBe(WindowClosed.type);
      const data = event.data as Billed;
      result.push({
        id: event.meta.id,
        granularity: data.granularity,
        windowStart: data.windowStart,
        value: data.value,
      });
      if (msg.info.pending === 0) break;
    }
  }
  await consumer.delete().catch(() => undefined);
  return result;
}

async function unpublished(): Promise<number> {
  const client = new pg.Client({ connectionString: stack.db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM metering.usage_windows
        WHERE published_at IS NULL AND window_end <= (SELECT closed_before FROM metering.close_watermark)`,
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Metering's clock, moved forward by the tests: usage is published for times after the current
 * watermark (it is on time), then the clock jumps past the windows' ends and the closer runs.
 */
const clock = { now: Date.now() };
const startMetering = (options: { afterPublish?: () => void } = {}) =>
  stack.startMetering({ ...options, now: () => new Date(clock.now) });

/** A moment metering still counts in its own window: the clock moves an hour on, the usage is a minute old. */
const onTime = () => {
  clock.now += HOUR;
  return new Date(clock.now - 60_000);
};

describe('closing windows', () => {
  it('publishes every ended window once, with deterministic ids, and never an open one', async () => {
    await startMetering();
    try {
      const tenant = randomUUID();
      const a = onTime();
      const b = new Date(a.getTime() + 50 * HOUR);
      const c = new Date(a.getTime() + 40 * DAY);
      const current = new Date(Math.floor((a.getTime() + 61 * DAY) / HOUR) * HOUR + 30 * 60_000);
      clock.now = current.getTime() + 60_000;
      await publishUsage(js, [
        { tenantId: tenant, value: 7, dedupKey: 'w:1', at: a },
        { tenantId: tenant, value: 5, dedupKey: 'w:2', at: a },
        { tenantId: tenant, value: 11, dedupKey: 'w:3', at: b },
        { tenantId: tenant, value: 13, dedupKey: 'w:4', at: c },
        { tenantId: tenant, value: 100, dedupKey: 'w:5', at: current },
      ]);
      await usageDrained(nc);
      const first = await stack.metering!.closeNow();
      expect(first.published).toBeGreaterThan(0);
      const closedBefore = first.closedBefore!.getTime();
      expect(closedBefore).toBe(Math.floor(current.getTime() / HOUR) * HOUR);

      // What must be closed: every window of that usage that ended at or before the watermark.
      const expected = new Map<string, Billed>();
      for (const [at, value] of [
        [a, 12],
        [b, 11],
        [c, 13],
        [current, 100],
      ] as const) {
        for (const granularity of ['hour', 'day', 'month'] as const) {
          const w = windowOf(granularity, at);
          if (w.end.getTime() > closedBefore) continue;
          const windowStart = w.start.toISOString();
          const id = windowClosedEventId(tenant, 'api_calls', granularity, windowStart);
          const known = expected.get(id);
          expected.set(id, { id, granularity, windowStart, value: (known?.value ?? 0) + value });
        }
      }
      const events = await billed(tenant);
      expect(events.map((e) => e.id).sort()).toEqual([...expected.keys()].sort());
      for (const e of events) expect(e).toEqual(expected.get(e.id));
      // The current hour is open: the 100 calls made in it are not billed yet.
      expect(events.some((e) => e.windowStart === windowOf('hour', current).start.toISOString())).toBe(false);
      expect(events.some((e) => e.value >= 100)).toBe(false);

      // Closing again publishes nothing new.
      expect((await stack.metering!.closeNow()).published).toBe(0);
      expect(await billed(tenant)).toHaveLength(events.length);
    } finally {
      await stack.stopMetering();
    }
  });

  it('a crash between publishing and marking republishes the same ids, which BILLING drops', async () => {
    const tenant = randomUUID();
    await startMetering({
      afterPublish: () => {
        throw new Error('crashed before marking the windows published');
      },
    });
    try {
      await publishUsage(js, [{ tenantId: tenant, value: 3, dedupKey: 'c:1', at: onTime() }]);
      await usageDrained(nc);
      clock.now += 3 * DAY;
      await expect(stack.metering!.closeNow()).rejects.toThrow(/crashed before marking/);
      expect(await unpublished()).toBeGreaterThan(0);
    } finally {
      await stack.stopMetering();
    }
    const once = await billed(tenant);
    expect(once.map((e) => e.granularity).sort()).toEqual(['day', 'hour']);

    await startMetering();
    try {
      await stack.metering!.closeNow();
      expect(await unpublished()).toBe(0);
      expect(await billed(tenant)).toEqual(once);
    } finally {
      await stack.stopMetering();
    }
  });

  it('counts usage that arrives after its window closed in the first open hour', async () => {
    const tenant = randomUUID();
    await startMetering();
    try {
      const at = onTime();
      await publishUsage(js, [{ tenantId: tenant, value: 2, dedupKey: 'l:1', at }]);
      await usageDrained(nc);
      clock.now = at.getTime() + 6 * HOUR;
      const { closedBefore } = await stack.metering!.closeNow();
      const closedHour = windowOf('hour', at).start.toISOString();
      expect((await billed(tenant)).find((e) => e.granularity === 'hour')).toMatchObject({
        windowStart: closedHour,
        value: 2,
      });

      // Late: its hour is closed and billed. It counts in the first open hour instead.
      await publishUsage(js, [{ tenantId: tenant, value: 5, dedupKey: 'l:2', at }]);
      await usageDrained(nc);
      const client = new pg.Client({ connectionString: stack.db.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ window_start: Date; value: string }>(
          `SELECT window_start, value FROM metering.usage_windows
            WHERE tenant_id = $1 AND granularity = 'hour' ORDER BY window_start`,
          [tenant],
        );
        expect(rows.map((r) => [r.window_start.toISOString(), Number(r.value)])).toEqual([
          [closedHour, 2],
          [closedBefore!.toISOString(), 5],
        ]);
      } finally {
        await client.end();
      }
    } finally {
      await stack.stopMetering();
    }
  });
});
