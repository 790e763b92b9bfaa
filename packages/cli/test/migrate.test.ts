import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminKey, type FakeGateway, startFakeGateway } from './support/fakeGateway.js';
import { runCli } from './support/runCli.js';

let gateway: FakeGateway;
const admin = (...args: string[]) => runCli(args, { TTM_URL: gateway.url, TTM_ADMIN_KEY: adminKey });
const acme = '0b3f8a4e-1111-4aaa-8aaa-000000000001';

beforeAll(async () => {
  gateway = await startFakeGateway();
});
afterAll(async () => {
  await gateway.close();
});

describe('tenant-cli migrate', () => {
  it('posts the target, follows the steps and prints where the tenant went', async () => {
    const result = await admin('migrate', 'acme', '--cluster', 'euw1-b');
    expect(result.code, result.stderr).toBe(0);
    const request = gateway.requests.findLast((r) => r.url.endsWith('/migrate'));
    expect(request?.url).toBe(`/api/admin/tenants/${acme}/migrate`);
    expect(request?.body).toEqual({ target_cluster: 'euw1-b' });
    // Off a terminal, one progress line per change on stderr.
    expect(result.stderr.trim().split('\n')).toEqual([
      'pending 0%',
      'running 10% freeze',
      'running 60% copy',
      'running 80% verify',
      'running 90% switch',
      'succeeded 100% remove-source',
    ]);
    expect(result.stdout).toMatch(/FROM\s+euw1-a \(eu-west-1\)/);
    expect(result.stdout).toMatch(/TO\s+euw1-b \(eu-west-1\)/);
    expect(result.stdout).toMatch(/ROWS\s+1,234/);
    expect(result.stdout).toMatch(/FROZEN\s+850 ms/);
  });

  it('--json prints the final operation; a failed migration exits 1 with one line', async () => {
    const ok = await admin('migrate', acme, '--region', 'eu-west-1', '--json');
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toMatchObject({ kind: 'migration', status: 'succeeded', result: { rows: 1234 } });
    expect(gateway.requests.findLast((r) => r.url.endsWith('/migrate'))?.body).toEqual({ target_region: 'eu-west-1' });

    const failed = await admin('migrate', 'acme', '--cluster', 'broken');
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n').at(-1)).toMatch(
      /^tenant-cli: migration 0b3f8a4e-aaaa-\S+ of tenant 0b3f8a4e-1111-\S+ failed: copy failed: checksum mismatch$/,
    );
    expect(failed.stdout).toBe('');
  });

  it('prints a refusal as one line', async () => {
    const result = await admin('migrate', 'acme', '--region', 'mars-1');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'tenant-cli: Unknown region: region "mars-1" is not served; choose one of: eu-west-1, us-east-1\n',
    );
  });
});
