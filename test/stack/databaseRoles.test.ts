import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asServiceRole, ensureServiceRole, SERVICE_SCHEMAS, serviceRoleName } from '@ttm/service-kit';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolePasswordEnv, serviceDatabaseUrls } from '../../scripts/stack/databaseRoles.js';

/** `npm start`: each service as its own role when the bootstrap made them, DATABASE_URL otherwise. */
const prefix = `ttm_s${randomBytes(4).toString('hex')}`;
const services = Object.keys(SERVICE_SCHEMAS) as (keyof typeof SERVICE_SCHEMAS)[];
let withRoles: TestDatabase;
let withoutRoles: TestDatabase;
const dirs: string[] = [];

async function asSuperuser(url: string, run: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await run(client);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  withRoles = await createTestDatabase('ttm_stackroles');
  withoutRoles = await createTestDatabase('ttm_stacknoroles');
  await asSuperuser(withRoles.url, async (client) => {
    for (const service of services) {
      await ensureServiceRole(client, { schema: SERVICE_SCHEMAS[service], role: serviceRoleName(service, prefix) });
    }
  });
}, 60_000);

afterAll(async () => {
  await withRoles?.drop();
  await withoutRoles?.drop();
  await asSuperuser(TEST_POSTGRES_URL, async (client) => {
    for (const service of services) {
      await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(serviceRoleName(service, prefix))}`);
    }
  });
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start: a database URL per service', () => {
  it('gives each service its role when every role owns its schema and logs in', async () => {
    const result = await serviceDatabaseUrls(withRoles.url, {}, prefix);
    expect(result.kind).toBe('roles');
    if (result.kind !== 'roles') return;
    for (const service of services) {
      expect(new URL(result.urls[service]).username).toBe(serviceRoleName(service, prefix));
    }
    const client = new pg.Client({ connectionString: result.urls.webhooks });
    await client.connect();
    try {
      const { rows } = await client.query<{ user: string }>('SELECT current_user AS user');
      expect(rows[0]!.user).toBe(serviceRoleName('webhooks', prefix));
    } finally {
      await client.end();
    }
  });

  it("keeps DATABASE_URL, saying why, when the schemas are not the roles' or the user is no superuser", async () => {
    const notOwned = await serviceDatabaseUrls(withoutRoles.url, {}, prefix);
    expect(notOwned).toEqual({ kind: 'shared', reason: expect.stringMatching(/is not owned by/) });
    const roleUrl = asServiceRole(withRoles.url, { role: serviceRoleName('gateway', prefix) });
    const notSuperuser = await serviceDatabaseUrls(roleUrl, {}, prefix);
    expect(notSuperuser).toEqual({ kind: 'shared', reason: expect.stringMatching(/not a superuser/) });
    const unreachable = await serviceDatabaseUrls('postgres://postgres@127.0.0.1:1/ttm', {}, prefix);
    expect(unreachable.kind).toBe('shared');
  });

  it('uses no passwords for a URL without one, and keeps generated ones for a URL with one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ttm-roles-'));
    dirs.push(dir);
    expect(rolePasswordEnv('postgres://postgres@127.0.0.1/ttm', {}, dir)).toEqual({});
    const first = rolePasswordEnv('postgres://postgres:secret@127.0.0.1/ttm', {}, dir);
    expect(Object.keys(first).sort()).toEqual(services.map((s) => `DATABASE_${s.toUpperCase()}_PASSWORD`).sort());
    expect(rolePasswordEnv('postgres://postgres:secret@127.0.0.1/ttm', {}, dir)).toEqual(first);
    expect(statSync(join(dir, 'postgres-roles.json')).mode & 0o777).toBe(0o600);
    const given = { DATABASE_GATEWAY_PASSWORD: 'from-env' };
    expect(rolePasswordEnv('postgres://postgres:secret@127.0.0.1/ttm', given, dir)).toEqual(given);
  });
});
