import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  asServiceRole,
  createLogger,
  createPool,
  ensureServiceRole,
  migrate,
  type Pool,
  serviceRoleName,
} from '@ttm/service-kit';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 12 item 8: a database role per service. The gateway and the backup service first: each
 * owns its schema, runs its own migrations, and cannot read the other's tables.
 */
const logger = createLogger('database-roles-test', 'silent');
const prefix = `ttm_t${randomBytes(4).toString('hex')}`;
const services = {
  gateway: { schema: 'gateway', migrations: '../../services/gateway/migrations' },
  backup: { schema: 'backup', migrations: '../../services/backup/migrations' },
} as const;
type Name = keyof typeof services;
const dirOf = (name: Name) => fileURLToPath(new URL(services[name].migrations, import.meta.url));
const roleOf = (name: Name) => serviceRoleName(name, prefix);

let db: TestDatabase;
const pools: Pool[] = [];

function poolAs(name: Name | 'postgres'): Pool {
  const url = name === 'postgres' ? db.url : asServiceRole(db.url, { role: roleOf(name) });
  const pool = createPool({ connectionString: url, max: 2, applicationName: `roles-test-${name}` }, logger);
  pools.push(pool);
  return pool;
}

beforeAll(async () => {
  db = await createTestDatabase('ttm_roles');
  // A deployment from before the split: the superuser ran every migration.
  const admin = poolAs('postgres');
  for (const name of Object.keys(services) as Name[]) await migrate(admin, services[name].schema, dirOf(name), logger);
  const client = await admin.connect();
  try {
    for (const name of Object.keys(services) as Name[]) {
      await ensureServiceRole(client, { schema: services[name].schema, role: roleOf(name) });
      // Twice: bootstrap runs on every start.
      await ensureServiceRole(client, { schema: services[name].schema, role: roleOf(name) });
    }
  } finally {
    client.release();
  }
}, 120_000);

afterAll(async () => {
  for (const pool of pools) await pool.end().catch(() => undefined);
  await db?.drop();
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    for (const name of Object.keys(services) as Name[]) {
      await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(roleOf(name))}`);
    }
  } finally {
    await client.end();
  }
});

const denied = /permission denied/;

describe('a PostgreSQL role per service', () => {
  it('each service runs its migrations and writes its own tables as its role', async () => {
    const gateway = poolAs('gateway');
    await migrate(gateway, 'gateway', dirOf('gateway'), logger);
    await gateway.query(
      `INSERT INTO gateway.projection_checkpoints (projection, last_seq) VALUES ('roles-test', 1)
       ON CONFLICT (projection) DO UPDATE SET last_seq = 2`,
    );
    expect((await gateway.query('SELECT count(*)::int AS n FROM gateway.signing_keys')).rows[0].n).toBe(0);
    const backup = poolAs('backup');
    await migrate(backup, 'backup', dirOf('backup'), logger);
    await backup.query(`INSERT INTO backup.projection_checkpoints (projection, last_seq) VALUES ('roles-test', 1)`);
    expect((await backup.query('SELECT count(*)::int AS n FROM backup.backups')).rows[0].n).toBe(0);
  });

  it("the gateway's role cannot read or change the backup service's tables", async () => {
    const gateway = poolAs('gateway');
    await expect(gateway.query('SELECT * FROM backup.backups')).rejects.toThrow(denied);
    await expect(gateway.query('SELECT * FROM backup.migrations')).rejects.toThrow(denied);
    await expect(gateway.query('DELETE FROM backup.projection_checkpoints')).rejects.toThrow(denied);
    await expect(gateway.query('DROP TABLE backup.restores')).rejects.toThrow(/must be owner|permission denied/);
  });

  it("the backup service's role cannot read the gateway's signing keys, tokens or tenants", async () => {
    const backup = poolAs('backup');
    for (const table of ['signing_keys', 'refresh_tokens', 'tenants', 'api_keys']) {
      await expect(backup.query(`SELECT * FROM gateway.${table}`), table).rejects.toThrow(denied);
    }
  });
});
