import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../packages/cli/test/support/runCli.js';
import { adminFetch, json, problem, signUp } from '../../../test/support/http.js';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';

/** Issue 12 item 8: signing keys sealed at rest under the KEK, rotated by route, CLI and schedule. */
let stack: TestStack;
const admin = adminFetch(() => stack.url);
const PASSWORD = 'Correct-Horse-Battery-9';

beforeAll(async () => {
  stack = await startStack({ provisioner: true, env: { ENABLE_RATE_LIMITING: 'false' } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

interface KeyRow {
  kid: string;
  private_jwk: Record<string, unknown>;
  retired_at: Date | null;
}

async function storedKeys(): Promise<KeyRow[]> {
  const { rows } = await stack.gateway!.deps.pool.query<KeyRow>(
    'SELECT kid, private_jwk, retired_at FROM gateway.signing_keys ORDER BY created_at',
  );
  return rows;
}

async function activeKid(): Promise<string> {
  const { rows } = await stack.gateway!.deps.pool.query<{ kid: string }>(
    'SELECT kid FROM gateway.signing_keys WHERE activated_at IS NOT NULL AND retired_at IS NULL',
  );
  return rows[0]!.kid;
}

const sealed = (row: KeyRow) =>
  row.private_jwk.sealed === 'ttm-envelope-v1' && !('d' in row.private_jwk) && !JSON.stringify(row).includes('"d"');

describe('signing keys at rest', () => {
  it('stores every private key sealed: no private JWK member in the database', async () => {
    const rows = await storedKeys();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(sealed(row), JSON.stringify(row)).toBe(true);
  });

  it('seals a key stored in plain text by an earlier version when a gateway starts', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    await stack.gateway!.deps.pool.query(
      `INSERT INTO gateway.signing_keys (kid, alg, private_jwk, public_jwk, activated_at, retired_at)
       VALUES ($1, 'ES256', $2, $3, now(), now())`,
      [
        kid,
        JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' }),
        JSON.stringify({ ...publicJwk, kid, alg: 'ES256', use: 'sig' }),
      ],
    );
    expect(sealed((await storedKeys()).find((r) => r.kid === kid)!)).toBe(false);
    await stack.startExtraGateway();
    expect(sealed((await storedKeys()).find((r) => r.kid === kid)!)).toBe(true);
  });
});

describe('rotation', () => {
  it('POST /api/admin/signing-keys/rotate needs the admin key, then signs with a new key; old tokens still work', async () => {
    const org = await signUp(stack.gateway!, {
      name: `Keys ${Date.now()}`,
      email: `keys-${Date.now()}@example.com`,
      password: PASSWORD,
      plan: 'pro',
    });
    const before = await activeKid();
    expect(decodeProtectedHeader(org.token).kid).toBe(before);

    await problem(await fetch(`${stack.url}/api/admin/signing-keys/rotate`, { method: 'POST' }), 401);
    const rotation = await json<{ kid: string; retired: string[] }>(
      await admin('/api/admin/signing-keys/rotate', { method: 'POST' }),
    );
    expect(rotation.retired).toEqual([before]);
    expect(rotation.kid).not.toBe(before);
    expect(await activeKid()).toBe(rotation.kid);
    const me = await fetch(`${stack.url}/api/tenant/me`, { headers: { authorization: `Bearer ${org.token}` } });
    expect(me.status).toBe(200);
    const jwks = (await (await fetch(`${stack.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([before, rotation.kid]));
    for (const row of await storedKeys()) expect(sealed(row)).toBe(true);
  });

  it('tenant-cli keys rotate rotates it, and prints the new key (--json too)', async () => {
    const before = await activeKid();
    const env = { TTM_URL: stack.url, TTM_ADMIN_KEY: TEST_ADMIN_KEY };
    const result = await runCli(['keys', 'rotate', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const rotation = JSON.parse(result.stdout) as { kid: string; retired: string[] };
    expect(rotation).toEqual({ kid: await activeKid(), retired: [before] });
    const table = await runCli(['keys', 'rotate'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`SIGNING KEY\\s+${await activeKid()}`));
    expect(table.stdout).toMatch(new RegExp(`RETIRED\\s+${rotation.kid}`));
    const refused = await runCli(['keys', 'rotate'], { TTM_URL: stack.url, TTM_ADMIN_KEY: 'wrong-admin-key-0123' });
    expect(refused.code).toBe(1);
    expect(refused.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('a gateway with SIGNING_KEY_MAX_AGE rotates the key once it is that old', async () => {
    const before = await activeKid();
    await stack.startExtraGateway({ SIGNING_KEY_MAX_AGE: '2s' });
    const after = await eventually(async () => {
      const kid = await activeKid();
      return kid !== before ? kid : undefined;
    }, 20_000);
    expect(after).not.toBe(before);
    const retired = (await storedKeys()).find((r) => r.kid === before);
    expect(retired?.retired_at).not.toBeNull();
  });
});
