import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeGateway, startFakeGateway } from './support/fakeGateway.js';
import { runCli } from './support/runCli.js';

let gateway: FakeGateway;
const env = () => ({ TTM_URL: gateway.url, TTM_ADMIN_PASSWORD: 'correct horse battery' });
const register = (org: string, ...extra: string[]) =>
  runCli(['register', '--org', org, '--email', 'admin@example.test', '--plan', 'pro', ...extra], env());

beforeAll(async () => {
  gateway = await startFakeGateway();
});
afterAll(async () => {
  await gateway.close();
});

describe('tenant-cli register', () => {
  it('follows the event stream to active and prints tenant, slug and time taken', async () => {
    const result = await register('Acme', '--region', 'eu-west-1', '--idempotency-key', 'k-123');

    expect(result.stderr).toContain('provisioning 60% create-schema');
    expect(result.stderr).not.toContain('polling');
    expect(result.stdout).toMatch(/TENANT\s+7c9e6679-7425-40de-944b-e07fc1f90001/);
    expect(result.stdout).toMatch(/SLUG\s+acme/);
    expect(result.stdout).toMatch(/STATUS\s+active/);
    expect(result.stdout).toMatch(/TOOK\s+\d+(\.\d)? m?s/);
    expect(result.code).toBe(0);
    const post = gateway.requests.find((r) => r.method === 'POST' && r.url === '/api/auth/register-organization');
    expect(post?.headers['idempotency-key']).toBe('k-123');
    expect(post?.body).toEqual({
      organization_name: 'Acme',
      admin_email: 'admin@example.test',
      admin_password: 'correct horse battery',
      plan: 'pro',
      region: 'eu-west-1',
    });
  });

  it('falls back to polling the provisioning status when the event stream answers 404', async () => {
    const result = await register('NoSse', '--password', 'from-the-flag');

    expect(result.stderr).toMatch(/no event stream \(Not Found: .*\): polling/);
    expect(result.stderr.trim().split('\n').slice(1)).toEqual([
      'pending 0%',
      'provisioning 50% create-schema',
      'active 100%',
    ]);
    expect(result.stdout).toMatch(/SLUG\s+nosse/);
    expect(result.code).toBe(0);
  });

  it('exits 1 with the error when provisioning fails, and --json prints the final status', async () => {
    const table = await register('Doomed');
    expect(table.code).toBe(1);
    expect(table.stderr.trim().split('\n').at(-1)).toBe(
      'tenant-cli: provisioning of tenant 7c9e6679-7425-40de-944b-e07fc1f90003 failed: cluster euw1-a is full',
    );

    const json = await register('Doomed', '--json');
    expect(json.code).toBe(1);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', error: 'cluster euw1-a is full' });
  });

  it('--no-wait --json prints the accepted registration', async () => {
    const result = await register('Acme', '--no-wait', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      provisioning_id: expect.stringMatching(/^prov-/),
      tenant_id: expect.any(String),
      status: 'pending',
    });
  });

  it('prints each field of a validation problem on one line', async () => {
    const result = await runCli(['register', '--org', 'Acme', '--email', 'nope', '--plan', 'gold'], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'tenant-cli: Invalid request: admin_email: must be an email address; plan: must be one of free, pro, enterprise\n',
    );
  });

  it('refuses to run without a password when stdin is not a terminal', async () => {
    const result = await runCli(['register', '--org', 'A', '--email', 'a@b.test', '--plan', 'pro'], {
      TTM_URL: gateway.url,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tenant-cli: register needs the admin password: .*TTM_ADMIN_PASSWORD\n$/);
  });
});
