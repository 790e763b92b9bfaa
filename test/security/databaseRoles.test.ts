import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  asServiceRole,
  createLogger,
  createPool,
  ensureServiceRole,
  migrate,
  type Pool,
  SERVICE_SCHEMAS,
  serviceRoleName,
} from '@ttm/service-kit';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Issue 12 item 8: a database role per service. Each of the six owns its schema, runs its own
 * migrations, and can neither read nor change another service's tables.
 */
const logger = createLogger('database-roles-test', 'silent');
const prefix = `ttm_t${randomBytes(4).toString('hex')}`;
const services = Object.fromEntries(Object.entries(SERVICE_SCHEMAS).map(([name, schema]) => [name, { schema }])) as {
  [N in keyof typeof SERVICE_SCHEMAS]: { schema: (typeof SERVICE_SCHEMAS)[N] };
};
type Name = keyof typeof services;
const names = Object.keys(services) as Name[];
const dirOf = (name: Name) => fileURLToPath(new URL(`../../services/${name}/migrations`, import.meta.url));
const roleOf = (name: Name) => serviceRoleName(name, prefix);

let db: TestDatabase;
const pools: Pool[] = [];
/** Every table of every service's schema after its migrations, as the superuser sees them. */
const tablesOf = new Map<Name, string[]>();

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
  for (const name of names) await migrate(admin, services[name].schema, dirOf(name), logger);
  const client = await admin.connect();
  try {
    for (const name of names) {
      const { rows } = await client.query<{ name: string }>(
        `SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`,
        [services[name].schema],
      );
      tablesOf.set(
        name,
        rows.map((row) => row.name),
      );
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
    for (const name of names) {
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

  it('provisioner, metering, quota and webhooks each run their migrations and use every table of their own schema', async () => {
    for (const name of ['provisioner', 'metering', 'quota', 'webhooks'] as const) {
      const pool = poolAs(name);
      await migrate(pool, services[name].schema, dirOf(name), logger);
      await pool.query(
        `INSERT INTO ${name}.projection_checkpoints (projection, last_seq) VALUES ('roles-test', 1)
         ON CONFLICT (projection) DO UPDATE SET last_seq = 2`,
      );
      expect(tablesOf.get(name)?.length, name).toBeGreaterThan(1);
      for (const table of tablesOf.get(name) ?? []) {
        await pool.query(`SELECT * FROM ${name}.${pg.escapeIdentifier(table)} LIMIT 1`);
        await pool.query(`DELETE FROM ${name}.${pg.escapeIdentifier(table)} WHERE false`);
      }
    }
  });

  it("no service's role can read, change or drop any table of another service's schema", async () => {
    for (const name of names) {
      const pool = poolAs(name);
      for (const other of names.filter((candidate) => candidate !== name)) {
        for (const table of tablesOf.get(other) ?? []) {
          const qualified = `${other}.${pg.escapeIdentifier(table)}`;
          const label = `${name} -> ${qualified}`;
          await expect(pool.query(`SELECT * FROM ${qualified} LIMIT 1`), label).rejects.toThrow(denied);
          await expect(pool.query(`DELETE FROM ${qualified} WHERE false`), label).rejects.toThrow(denied);
          await expect(pool.query(`DROP TABLE ${qualified}`), label).rejects.toThrow(/must be owner|permission denied/);
        }
        await expect(pool.query(`CREATE TABLE ${other}.intruder (id int)`), `${name} -> ${other}`).rejects.toThrow(
          denied,
        );
      }
    }
  }, 180_000);

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
