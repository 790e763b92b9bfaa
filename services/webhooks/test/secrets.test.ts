import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, createPool, isSealedSecret, LocalKeyEncryptionKeys, migrate, type Pool } from '@ttm/service-kit';
import { createTestDatabase, type TestDatabase } from '@ttm/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret } from '../src/delivery/signing.js';
import { EndpointSecrets } from '../src/endpoints/secrets.js';
import { EndpointStore, WEBHOOKS_SCHEMA } from '../src/endpoints/store.js';

/** Issue 12 item 8: endpoint signing secrets sealed under the KEK, and rows from before migration 002 sealed. */
const logger = createLogger('webhook-secrets-test', 'silent');
const migrations = fileURLToPath(new URL('../migrations', import.meta.url));
const kek = new LocalKeyEncryptionKeys(Buffer.alloc(32, 7));
const secrets = new EndpointSecrets(kek);
let db: TestDatabase;
let pool: Pool;
let store: EndpointStore;
const legacy = { id: randomUUID(), secret: newSecret(), previous: newSecret() };

beforeAll(async () => {
  db = await createTestDatabase('ttm_webhook_secrets');
  pool = createPool({ connectionString: db.url, max: 2, applicationName: 'webhook-secrets-test' }, logger);
  // The schema as it was before 002, with an endpoint holding plain secrets.
  const before = await mkdtemp(join(tmpdir(), 'ttm-webhooks-001-'));
  await copyFile(join(migrations, '001_init.sql'), join(before, '001_init.sql'));
  await migrate(pool, WEBHOOKS_SCHEMA, before, logger);
  await rm(before, { recursive: true, force: true });
  await pool.query(
    `INSERT INTO webhooks.endpoints (id, url, event_types, owner, secret, previous_secret, previous_secret_expires_at)
     VALUES ($1, 'https://hooks.example.com/a', '{tenant.suspended}', 'operator', $2, $3, now() + interval '1 hour')`,
    [legacy.id, legacy.secret, legacy.previous],
  );
  expect(await migrate(pool, WEBHOOKS_SCHEMA, migrations, logger)).toContain('002_sealed_secrets');
  store = new EndpointStore(pool, secrets);
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

async function row(id: string) {
  const { rows } = await pool.query<{
    secret: string | null;
    previous_secret: string | null;
    secret_sealed: unknown;
    previous_secret_sealed: unknown;
  }>('SELECT secret, previous_secret, secret_sealed, previous_secret_sealed FROM webhooks.endpoints WHERE id = $1', [
    id,
  ]);
  return rows[0]!;
}

describe('webhook signing secrets at rest', () => {
  it('a new endpoint: the secret is returned once and the table holds it only sealed', async () => {
    const { endpoint, secret } = await store.create({
      url: 'https://hooks.example.com/b',
      description: null,
      eventTypes: ['tenant.suspended'],
      tenantId: null,
      owner: 'operator',
    });
    const stored = await row(endpoint.id);
    expect(stored.secret).toBeNull();
    expect(isSealedSecret(stored.secret_sealed)).toBe(true);
    const { rows } = await pool.query('SELECT to_jsonb(e)::text AS text FROM webhooks.endpoints e WHERE id = $1', [
      endpoint.id,
    ]);
    expect(rows[0].text).not.toContain(secret);
    expect(rows[0].text).not.toContain(secret.replace(/^whsec_/, ''));
    expect(await secrets.open(endpoint.id, stored.secret_sealed, stored.secret)).toBe(secret);
  });

  it('rows written before migration 002 are sealed at start, once, and open to the same secrets', async () => {
    expect(await store.sealPlainSecrets()).toBe(1);
    expect(await store.sealPlainSecrets()).toBe(0);
    const stored = await row(legacy.id);
    expect(stored.secret).toBeNull();
    expect(stored.previous_secret).toBeNull();
    expect(await secrets.open(legacy.id, stored.secret_sealed, null)).toBe(legacy.secret);
    expect(await secrets.open(legacy.id, stored.previous_secret_sealed, null)).toBe(legacy.previous);
    const { rows } = await pool.query<{ text: string }>(
      "SELECT string_agg(to_jsonb(e)::text, '') AS text FROM webhooks.endpoints e",
    );
    expect(rows[0]!.text).not.toContain(legacy.secret);
    expect(rows[0]!.text).not.toContain(legacy.previous);
  });

  it('a rotation keeps the old secret sealed in the previous slot', async () => {
    const rotated = await store.rotateSecret({ kind: 'operator' }, legacy.id, 60_000);
    expect(rotated).toBeDefined();
    const stored = await row(legacy.id);
    expect(stored.secret).toBeNull();
    expect(await secrets.open(legacy.id, stored.secret_sealed, null)).toBe(rotated!.secret);
    expect(await secrets.open(legacy.id, stored.previous_secret_sealed, null)).toBe(legacy.secret);
  });

  it('a sealed secret copied to another endpoint does not open, nor under another KEK', async () => {
    const stored = await row(legacy.id);
    await expect(secrets.open(randomUUID(), stored.secret_sealed, null)).rejects.toThrow(/authenticate/);
    const other = new EndpointSecrets(new LocalKeyEncryptionKeys(Buffer.alloc(32, 8)));
    await expect(other.open(legacy.id, stored.secret_sealed, null)).rejects.toThrow(/not configured/);
  });
});
