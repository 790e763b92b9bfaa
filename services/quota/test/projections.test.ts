import { QuotasOverridden, QuotaWarning, WindowClosed } from '@ttm/contracts';
import {
  applyOneByOneAndInBatches,
  type HistoryEvent,
  interleave,
  migratedTestDatabase,
} from '@ttm/service-kit/testing';
import type pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuotaBook } from '../src/enforcement/quotaBook.js';
import { overridesProjection, QUOTA_SCHEMA } from '../src/overrides/projection.js';
import { settlementProjection } from '../src/settlement/projection.js';

const migrations = new URL('../migrations', import.meta.url).pathname;
let one: Awaited<ReturnType<typeof migratedTestDatabase>>;
let many: Awaited<ReturnType<typeof migratedTestDatabase>>;

beforeAll(async () => {
  one = await migratedTestDatabase('ttm_test_quota_projections', QUOTA_SCHEMA, migrations);
  many = await migratedTestDatabase('ttm_test_quota_projections', QUOTA_SCHEMA, migrations);
});

afterAll(async () => {
  await Promise.all([one?.close(), many?.close()]);
});

const tenantIds = Array.from({ length: 30 }, (_, n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`);
const at = (day: number) => new Date(Date.UTC(2026, 10, day)).toISOString();

async function rows(pool: pg.Pool, table: string, order: string) {
  return (await pool.query(`SELECT * FROM ${QUOTA_SCHEMA}.${table} ORDER BY ${order}`)).rows;
}

describe("quota's projections", () => {
  it('keep the same overrides applying batches set-based (several overrides of a tenant in one) as one at a time, and name every tenant changed', async () => {
    const histories = tenantIds.map((tenantId, n) => {
      const overridden = (day: number, limits: object): HistoryEvent => ({
        type: QuotasOverridden.type,
        data: { tenantId, limits, actor: { kind: 'admin', id: 'ops@operator.example' }, overriddenAt: at(day) },
        time: at(day),
      });
      const events = [
        overridden(1, { storage_bytes: 1_000 + n, users: 5 }),
        // Quota's own notices on the same subject: nothing to project.
        {
          type: QuotaWarning.type,
          data: { tenantId, meter: 'users', window: at(1), used: 4, limit: 5, at: at(2), thresholdPercent: 80 },
          time: at(2),
        },
        overridden(3, { users: null, api_calls_per_month: 10_000 }),
      ];
      if (n % 2 === 0) events.push(overridden(4, { storage_bytes: null }));
      if (n % 3 === 0) events.push(overridden(5, { api_calls_per_month: 20_000 + n, users: 7 }));
      return { subject: `evt.quota.${tenantId}`, events };
    });
    const changedOne = new Set<string>();
    const changedMany = new Set<string>();
    const forOne = overridesProjection((tenantId) => changedOne.add(tenantId));
    const forMany = overridesProjection((tenantId) => changedMany.add(tenantId));
    const events = interleave(histories);
    // Each projection in its own database, as `applyOneByOneAndInBatches` would apply one.
    await applyOneByOneAndInBatches(
      {
        ...forOne.projection,
        apply: async (client, event) => {
          await forOne.projection.apply(client, event);
          forOne.onApplied();
        },
        applyMany: (client, batch) => forMany.projection.applyMany!(client, batch).then(() => forMany.onApplied()),
      },
      one.pool,
      many.pool,
      events,
    );
    const expected = await rows(one.pool, 'overrides', 'tenant_id');
    expect(expected).toHaveLength(30);
    expect(expected.find((r) => r.tenant_id === tenantIds[0])).toMatchObject({
      storage_bytes: null,
      users: '7',
      api_calls_per_month: '20000',
    });
    expect(expected.find((r) => r.tenant_id === tenantIds[1])).toMatchObject({
      storage_bytes: '1001',
      users: null,
      api_calls_per_month: '10000',
    });
    expect(await rows(many.pool, 'overrides', 'tenant_id')).toEqual(expected);
    expect(changedMany).toEqual(new Set(tenantIds));
    expect(changedOne).toEqual(new Set(tenantIds));
  });

  it('settles the same months applying batches in one statement as one window at a time', async () => {
    const book = new QuotaBook();
    for (const tenantId of tenantIds.slice(0, 20)) {
      book.setLimits(tenantId, {
        plan: 'pro',
        quotas: { storage_bytes: 1_000_000, users: 10, api_calls_per_month: 1_000 },
        rateLimit: { requests: 100, windowMs: 1_000 },
      });
    }
    const histories = tenantIds.flatMap((tenantId, n) =>
      (['api_calls', 'users'] as const).map((meter) => {
        const closed = (granularity: string, start: number, end: number, value: number): HistoryEvent => ({
          type: WindowClosed.type,
          data: {
            tenantId,
            meter,
            kind: meter === 'api_calls' ? 'count' : 'gauge',
            granularity,
            windowStart: at(start),
            windowEnd: at(end),
            value,
          },
          time: at(end),
        });
        return {
          subject: `billing.${tenantId}.${meter}`,
          events: [
            closed('day', 1, 2, 10 * n),
            closed('month', 1, 31, 100 * n),
            // The same month again (a redelivered close): the first stays.
            closed('month', 1, 31, 100 * n + 1),
          ],
        };
      }),
    );
    const metrics = { one: new Registry(), many: new Registry() };
    const forOne = settlementProjection(book, metrics.one);
    const forMany = settlementProjection(book, metrics.many);
    await applyOneByOneAndInBatches(
      { ...forOne, applyMany: forMany.applyMany!.bind(forMany) },
      one.pool,
      many.pool,
      interleave(histories),
    );
    const expected = (await rows(one.pool, 'settled_periods', 'tenant_id, meter, period_start')).map(
      ({ settled_at: _, ...row }) => row,
    );
    expect(expected).toHaveLength(30);
    const settled = (await rows(many.pool, 'settled_periods', 'tenant_id, meter, period_start')).map(
      ({ settled_at: _, ...row }) => row,
    );
    expect(settled).toEqual(expected);
    const counted = async (registry: Registry) =>
      (await registry.getSingleMetric('quota_settled_periods_total')?.get())?.values.map(({ labels, value }) => ({
        labels,
        value,
      }));
    expect(await counted(metrics.many)).toEqual(await counted(metrics.one));
    expect(await counted(metrics.one)).toEqual(
      expect.arrayContaining([
        { labels: { meter: 'api_calls', outcome: 'within' }, value: 21 },
        { labels: { meter: 'api_calls', outcome: 'over' }, value: 9 },
      ]),
    );
  });
});
