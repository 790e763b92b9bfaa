import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeTenantWrites,
  type DataPlanePool,
  openTenantWrites,
  runPipeline,
  TenantWritesClosed,
  tenantWrite,
} from '../src/index.js';

/**
 * A tenant write in one round trip (`tenantWrite`): the write gate and the statement pipelined
 * as one transaction, against a real PostgreSQL.
 */
let database: TestDatabase;
let raw: pg.Pool;
let pool: DataPlanePool;

beforeAll(async () => {
  database = await createTestDatabase();
  raw = new pg.Pool({ connectionString: database.url, max: 4 });
  pool = { query: (text, values) => raw.query(text, values as unknown[]), connect: () => raw.connect() };
  await raw.query('CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)');
});

afterAll(async () => {
  await raw?.end();
  await database?.drop();
});

const count = async () => (await raw.query<{ n: number }>('SELECT count(*)::int AS n FROM notes')).rows[0]!.n;

describe('runPipeline', () => {
  it('answers one result per statement, with parameters of every type pg maps', async () => {
    const client = await raw.connect();
    try {
      const at = new Date('2026-12-05T10:00:00.123Z');
      const results = await runPipeline(client, [
        { text: 'SELECT $1::int + 1 AS n', values: [41] },
        { text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [1, 'first'] },
        { text: 'SELECT $1::timestamptz AS at, $2::jsonb AS doc, $3::text[] AS tags', values: [at, { a: 1 }, ['x']] },
      ]);
      expect(results).toHaveLength(3);
      expect(results[0]!.rows).toEqual([{ n: 42 }]);
      expect(results[1]!.rowCount).toBe(1);
      expect(results[2]!.rows).toEqual([{ at, doc: { a: 1 }, tags: ['x'] }]);
    } finally {
      client.release();
    }
  });

  it('applies nothing when a later statement fails, and the connection stays usable', async () => {
    const before = await count();
    const client = await raw.connect();
    try {
      const failure = await runPipeline(client, [
        { text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [2, 'second'] },
        { text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [3, null] },
        { text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [4, 'never run'] },
      ]).catch((e: unknown) => e);
      expect(failure).toMatchObject({ code: '23502' });
      expect(await count()).toBe(before);
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      client.release();
    }
  });
});

describe('tenantWrite', () => {
  const tenant = randomUUID();

  it('writes once the gate is open, creating the gate function in a database without it', async () => {
    const result = await tenantWrite<{ id: number }>(pool, tenant, {
      text: 'INSERT INTO notes (id, body) VALUES ($1, $2) RETURNING id',
      values: [10, 'gated'],
    });
    expect(result.rows).toEqual([{ id: 10 }]);
    const { rows } = await raw.query(`SELECT to_regprocedure('core.ttm_pass_write_gate(text)') IS NOT NULL AS present`);
    expect(rows[0]).toEqual({ present: true });
  });

  it('refuses with the freeze while the gate is closed, writing nothing, and writes again once it opens', async () => {
    await closeTenantWrites(pool, tenant, { operationId: 'op-1', reason: 'migration', retryAfterS: 7 });
    const refused = await tenantWrite(pool, tenant, {
      text: 'INSERT INTO notes (id, body) VALUES ($1, $2)',
      values: [11, 'refused'],
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TenantWritesClosed);
    expect((refused as TenantWritesClosed).gate).toMatchObject({
      operationId: 'op-1',
      reason: 'migration',
      retryAfterS: 7,
    });
    expect((refused as TenantWritesClosed).gate.since).toBeInstanceOf(Date);
    expect((await raw.query('SELECT 1 FROM notes WHERE id = 11')).rowCount).toBe(0);

    // Another tenant of the same database is not gated.
    await tenantWrite(pool, randomUUID(), { text: 'INSERT INTO notes (id, body) VALUES (12, $1)', values: ['other'] });

    expect(await openTenantWrites(pool, tenant, 'op-1')).toBe(true);
    await tenantWrite(pool, tenant, { text: 'INSERT INTO notes (id, body) VALUES (11, $1)', values: ['after'] });
    expect((await raw.query('SELECT body FROM notes WHERE id = 11')).rows).toEqual([{ body: 'after' }]);
  });

  it('a write waiting at the gate while a migration closes it is refused, never written after the close', async () => {
    // The migration holds the gate's lock exclusively with its freeze row not yet committed.
    const migration = await raw.connect();
    try {
      await migration.query('BEGIN');
      await migration.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`ttm-tenant-writes:${tenant}`]);
      await migration.query(
        `INSERT INTO core."writeFreeze" ("workspaceId", "operationId", reason, since, "retryAfterS")
         VALUES ($1, 'op-2', 'migration', now(), 5)`,
        [tenant],
      );
      const waiting = tenantWrite(pool, tenant, {
        text: 'INSERT INTO notes (id, body) VALUES (20, $1)',
        values: ['raced'],
      }).catch((e: unknown) => e);
      // The write is queued on the lock (seen by PostgreSQL), then the migration commits.
      for (;;) {
        const { rows } = await raw.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        if (rows[0]!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await migration.query('COMMIT');
      expect(await waiting).toBeInstanceOf(TenantWritesClosed);
      expect((await raw.query('SELECT 1 FROM notes WHERE id = 20')).rowCount).toBe(0);
    } finally {
      migration.release();
      await openTenantWrites(pool, tenant, 'op-2');
    }
  });
});
