import { TenantEvents } from '@ttm/contracts';
import { applyOneByOneAndInBatches, migratedTestDatabase, tenantHistory } from '@ttm/service-kit/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placementsProjection } from '../src/tenant/placementsProjection.js';

const migrations = new URL('../migrations', import.meta.url).pathname;
let one: Awaited<ReturnType<typeof migratedTestDatabase>>;
let many: Awaited<ReturnType<typeof migratedTestDatabase>>;

beforeAll(async () => {
  one = await migratedTestDatabase('ttm_test_placements', 'provisioner', migrations);
  many = await migratedTestDatabase('ttm_test_placements', 'provisioner', migrations);
});

afterAll(async () => {
  await Promise.all([one?.close(), many?.close()]);
});

async function rows(pool: pg.Pool) {
  return (await pool.query('SELECT * FROM provisioner.placements ORDER BY tenant_id')).rows;
}

describe("the provisioner's placements projection", () => {
  it('moves placements the same applying batches set-based (a tenant moved twice in one) as one event at a time', async () => {
    const events = tenantHistory(40);
    // The saga's rows, which the projection only moves.
    const tenantIds = events
      .filter((event) => event.meta.type === TenantEvents.registered.type)
      .map((event) => event.subject.replace('evt.tenant.', ''));
    for (const { pool } of [one, many]) {
      await pool.query(
        `INSERT INTO provisioner.placements (tenant_id, region, cluster, kind, database, schema, placed_at)
         SELECT id, 'us-east-1', 'us-east-1-a', 'schema', 'twenty', 'workspace_' || n, '2026-12-05T12:00:00Z'
           FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
        [tenantIds],
      );
    }
    await applyOneByOneAndInBatches(placementsProjection, one.pool, many.pool, events);
    const expected = await rows(one.pool);
    expect(expected).toHaveLength(40);
    expect(new Set(expected.map((p) => p.cluster))).toEqual(new Set(['us-east-1-a', 'eu-west-1-a', 'eu-west-1-b']));
    expect(await rows(many.pool)).toEqual(expected);
  });
});
