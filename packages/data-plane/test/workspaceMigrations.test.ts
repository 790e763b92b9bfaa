import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bareWorkspaceSql,
  CORE_SCHEMA_SQL,
  changeWorkspaceVersion,
  checkDrift,
  migrationPath,
  OLDEST_SUPPORTED_SCHEMA_VERSION,
  referenceFingerprints,
  schemaFingerprints,
  schemaLines,
  WORKSPACE_MIGRATIONS,
  WORKSPACE_SCHEMA_VERSION,
  WORKSPACE_TABLES,
  WorkspaceArchived,
  workspaceSchemaName,
} from '../src/index.js';

const N = WORKSPACE_SCHEMA_VERSION;
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('ttm_upgrade');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await pool.query(CORE_SCHEMA_SQL);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

async function workspaceAt(version: number): Promise<{ id: string; schema: string }> {
  const id = randomUUID();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(bareWorkspaceSql(id, version));
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return { id, schema: workspaceSchemaName(id) };
}

async function versionOf(id: string): Promise<number> {
  const { rows } = await pool.query<{ v: number }>(
    'SELECT "schemaVersion" AS v FROM core."dataSource" WHERE "workspaceId" = $1',
    [id],
  );
  return rows[0]!.v;
}

async function checksums(schema: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const table of WORKSPACE_TABLES) {
    const { rows } = await pool.query<{ md5: string }>(
      `SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5
         FROM ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table.name)} t`,
    );
    result[table.name] = rows[0]!.md5;
  }
  return result;
}

async function seed(schema: string): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  await pool.query(
    `WITH c AS (INSERT INTO ${s}.company (name, employees) SELECT 'Company ' || n, n FROM generate_series(1, 50) n RETURNING id)
     INSERT INTO ${s}.person ("nameFirstName", "companyId") SELECT 'P', id FROM c`,
  );
  await pool.query(`INSERT INTO ${s}.note (title) SELECT 'Note ' || n FROM generate_series(1, 20) n`);
}

describe('workspace migrations', () => {
  it('ship an up and a down step for every version, each declaring its mode', () => {
    expect(WORKSPACE_MIGRATIONS.map((m) => m.version)).toEqual(
      Array.from({ length: N - OLDEST_SUPPORTED_SCHEMA_VERSION }, (_, i) => OLDEST_SUPPORTED_SCHEMA_VERSION + 1 + i),
    );
    for (const m of WORKSPACE_MIGRATIONS) {
      expect(['online', 'needs-freeze']).toContain(m.mode);
      expect(m.up.trim()).not.toBe('');
      expect(m.down.trim()).not.toBe('');
    }
    expect(migrationPath(N, N - 1).map((s) => s.direction)).toEqual(['down']);
    expect(() => migrationPath(0, N)).toThrow(/no migration path/);
  });

  it('applied to version N-1 give exactly a freshly created version N, and down gives back N-1', async () => {
    const client = await pool.connect();
    const references = await referenceFingerprints(client).finally(() => client.release());
    expect(references.get(N)).not.toBe(references.get(N - 1));

    const old = await workspaceAt(N - 1);
    const fresh = await workspaceAt(N);
    const up = await changeWorkspaceVersion(pool, { workspaceId: old.id, to: N });
    expect(up).toMatchObject({ outcome: 'changed', from: N - 1, to: N });
    expect(await schemaLines(pool, old.schema)).toEqual(await schemaLines(pool, fresh.schema));
    const fingerprints = await schemaFingerprints(pool, [old.schema, fresh.schema]);
    expect(fingerprints.get(old.schema)).toBe(references.get(N));
    expect(fingerprints.get(fresh.schema)).toBe(references.get(N));
    expect(await versionOf(old.id)).toBe(N);

    const again = await changeWorkspaceVersion(pool, { workspaceId: old.id, to: N });
    expect(again.outcome).toBe('already');

    await changeWorkspaceVersion(pool, { workspaceId: old.id, to: N - 1 });
    expect((await schemaFingerprints(pool, [old.schema])).get(old.schema)).toBe(references.get(N - 1));
    expect(await versionOf(old.id)).toBe(N - 1);
  });

  it('rollback brings back the N-1 schema and identical data (per-table checksums)', async () => {
    const tenant = await workspaceAt(N - 1);
    await seed(tenant.schema);
    const before = await checksums(tenant.schema);
    await changeWorkspaceVersion(pool, { workspaceId: tenant.id, to: N });
    // While at N the tenant keeps reading and writing what N-1 had.
    await pool.query(`UPDATE ${pg.escapeIdentifier(tenant.schema)}.note SET title = title`);
    await changeWorkspaceVersion(pool, { workspaceId: tenant.id, to: N - 1 });
    const after = await checksums(tenant.schema);
    const client = await pool.connect();
    const references = await referenceFingerprints(client).finally(() => client.release());
    expect((await schemaFingerprints(pool, [tenant.schema])).get(tenant.schema)).toBe(references.get(N - 1));
    // "updatedAt" is not touched by a same-value UPDATE without a trigger: rows are identical.
    expect(after).toEqual(before);
  });

  it('a failing upgrade leaves the tenant at N-1, serving', async () => {
    const tenant = await workspaceAt(N - 1);
    await seed(tenant.schema);
    // A column added by hand collides with the migration's.
    await pool.query(
      `ALTER TABLE ${pg.escapeIdentifier(tenant.schema)}.company ADD COLUMN "linkedinLinkPrimaryLinkUrl" varchar(10)`,
    );
    await expect(changeWorkspaceVersion(pool, { workspaceId: tenant.id, to: N })).rejects.toThrow(/already exists/);
    expect(await versionOf(tenant.id)).toBe(N - 1);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(tenant.schema)}.person`);
    expect(rows[0]).toEqual({ n: 50 });
    const cols = await pool.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'person' AND column_name = 'linkedinLinkPrimaryLinkUrl'`,
      [tenant.schema],
    );
    expect(cols.rowCount).toBe(0);
  });

  it('waits for locks at most lock_timeout per attempt and retries', async () => {
    const tenant = await workspaceAt(N - 1);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${pg.escapeIdentifier(tenant.schema)}.company IN ACCESS SHARE MODE`);
      await expect(
        changeWorkspaceVersion(pool, { workspaceId: tenant.id, to: N, lockTimeoutMs: 50, attempts: 2 }),
      ).rejects.toMatchObject({ code: '55P03' });
      expect(await versionOf(tenant.id)).toBe(N - 1);
      let attempts = 0;
      const change = changeWorkspaceVersion(pool, {
        workspaceId: tenant.id,
        to: N,
        lockTimeoutMs: 50,
        attempts: 1000,
        beforeCommit: async () => {
          attempts++;
        },
      });
      await holder.query('COMMIT');
      await expect(change).resolves.toMatchObject({ outcome: 'changed' });
      expect(attempts).toBe(1);
    } finally {
      holder.release();
    }
  });

  it('the drift check finds a column added by hand, and nothing else', async () => {
    const client = await pool.connect();
    try {
      const clean = await checkDrift(client);
      const dirty = await workspaceAt(N);
      await pool.query(`ALTER TABLE ${pg.escapeIdentifier(dirty.schema)}.task ADD COLUMN "handMade" text`);
      const report = await checkDrift(client);
      expect(report.checked).toBe(clean.checked + 1);
      const newly = report.drifted.filter((d) => !clean.drifted.some((c) => c.workspaceId === d.workspaceId));
      expect(newly).toEqual([{ workspaceId: dirty.id, schema: dirty.schema, version: N, problem: 'drifted' }]);
    } finally {
      client.release();
    }
  });

  it('an archived workspace (INACTIVE, schema dropped) is neither upgraded nor counted as drift', async () => {
    const archived = await workspaceAt(N - 1);
    await pool.query(`DROP SCHEMA ${pg.escapeIdentifier(archived.schema)} CASCADE`);
    await pool.query(`UPDATE core.workspace SET "activationStatus" = 'INACTIVE' WHERE id = $1`, [archived.id]);
    await expect(changeWorkspaceVersion(pool, { workspaceId: archived.id, to: N })).rejects.toBeInstanceOf(
      WorkspaceArchived,
    );
    expect(await versionOf(archived.id)).toBe(N - 1);
    const client = await pool.connect();
    try {
      const report = await checkDrift(client);
      expect(report.drifted.map((d) => d.workspaceId)).not.toContain(archived.id);
    } finally {
      client.release();
    }
  });

  it('the fingerprint sees an index, a default, a predicate, a foreign key or a check changed by hand', async () => {
    const reference = (await schemaFingerprints(pool, [(await workspaceAt(N)).schema])).values().next().value;
    const changes = [
      (s: string) => `CREATE INDEX "handMade_idx" ON ${s}.person ("createdAt")`,
      (s: string) => `ALTER TABLE ${s}.company ALTER COLUMN "createdAt" SET DEFAULT now() - interval '1 day'`,
      (s: string) => `ALTER TABLE ${s}.company DROP CONSTRAINT company_pkey CASCADE`,
      (s: string) =>
        `DROP INDEX ${s}."company_linkedinLink_idx"; CREATE INDEX "company_linkedinLink_idx" ON ${s}.company ("linkedinLinkPrimaryLinkUrl") WHERE "linkedinLinkPrimaryLinkUrl" IS NULL`,
      (s: string) => `ALTER TABLE ${s}.task ADD CONSTRAINT "handMade_check" CHECK ("deletedAt" IS NULL)`,
      (s: string) =>
        `ALTER TABLE ${s}."noteTarget" ADD CONSTRAINT "handMade_fk" FOREIGN KEY ("personId") REFERENCES ${s}.person (id)`,
    ];
    for (const change of changes) {
      const workspace = await workspaceAt(N);
      const schema = pg.escapeIdentifier(workspace.schema);
      await pool.query(change(schema));
      const found = await schemaFingerprints(pool, [workspace.schema]);
      expect(found.get(workspace.schema), change('s')).not.toBe(reference);
    }
  });
});
