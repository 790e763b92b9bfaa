import { applyOneByOneAndInBatches, migratedTestDatabase, tenantHistory } from '@ttm/service-kit/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METERING_SCHEMA, meteringTenantsProjection } from '../src/tenants/projection.js';

const migrations = new URL('../migrations', import.meta.url).pathname;
let one: Awaited<ReturnType<typeof migratedTestDatabase>>;
let many: Awaited<ReturnType<typeof migratedTestDatabase>>;

beforeAll(async () => {
  one = await migratedTestDatabase('ttm_test_metering_tenants', METERING_SCHEMA, migrations);
  many = await migratedTestDatabase('ttm_test_metering_tenants', METERING_SCHEMA, migrations);
});

afterAll(async () => {
  await Promise.all([one?.close(), many?.close()]);
});

async function rows(pool: pg.Pool) {
  return (await pool.query(`SELECT * FROM ${METERING_SCHEMA}.tenants ORDER BY tenant_id`)).rows;
}

describe("metering's tenants projection", () => {
  it('gives the same rows applying batches set-based (several events of a tenant in one) as one event at a time', async () => {
    await applyOneByOneAndInBatches(meteringTenantsProjection, one.pool, many.pool, tenantHistory(40));
    const expected = await rows(one.pool);
    expect(expected).toHaveLength(40);
    // Tenants 3, 17 and 31 stay archived (10, 24 and 38 were suspended and activated after).
    expect(new Set(expected.map((t) => t.status))).toEqual(new Set(['active', 'archived']));
    expect(expected.filter((t) => t.status === 'archived')).toHaveLength(3);
    expect(new Set(expected.map((t) => t.cluster))).toEqual(new Set(['us-east-1-a', 'eu-west-1-a', 'eu-west-1-b']));
    expect(await rows(many.pool)).toEqual(expected);
  });
});
