import { applyOneByOneAndInBatches, migratedTestDatabase, tenantHistory } from '@ttm/service-kit/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_SCHEMA, tenantsProjection } from '../src/features/tenants/projection.js';

const migrations = new URL('../migrations', import.meta.url).pathname;
let one: Awaited<ReturnType<typeof migratedTestDatabase>>;
let many: Awaited<ReturnType<typeof migratedTestDatabase>>;

beforeAll(async () => {
  one = await migratedTestDatabase('ttm_test_tenants_projection', GATEWAY_SCHEMA, migrations);
  many = await migratedTestDatabase('ttm_test_tenants_projection', GATEWAY_SCHEMA, migrations);
});

afterAll(async () => {
  await Promise.all([one?.close(), many?.close()]);
});

async function rows(pool: pg.Pool) {
  const tenants = await pool.query(`SELECT * FROM ${GATEWAY_SCHEMA}.tenants ORDER BY tenant_id`);
  const operations = await pool.query(`SELECT * FROM ${GATEWAY_SCHEMA}.operations ORDER BY operation_id`);
  return { tenants: tenants.rows, operations: operations.rows };
}

describe('the gateway tenants projection', () => {
  it('gives the same rows applying a batch set-based (one statement per type and table) as one event at a time', async () => {
    await applyOneByOneAndInBatches(tenantsProjection, one.pool, many.pool, tenantHistory(40));
    const expected = await rows(one.pool);
    expect(expected.tenants).toHaveLength(40);
    expect(new Set(expected.tenants.map((t) => t.status))).toEqual(new Set(['active', 'archived']));
    expect(await rows(many.pool)).toEqual(expected);
  });
});
