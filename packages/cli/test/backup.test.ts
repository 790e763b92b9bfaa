import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  startConnectedStack,
  stopConnectedStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from '../../../test/support/stack.js';
import { registerTenant, seedTenant, type TestTenant } from '../../../test/support/tenants.js';
import { runCli } from './support/runCli.js';

// Against the real gateway and backup service: what the verbs print is what the system did.
let stack: TestStack;
let nc: NatsConnection;
let tenant: TestTenant;
const cli = (...args: string[]) => runCli(args, { TTM_URL: stack.url, TTM_ADMIN_KEY: TEST_ADMIN_KEY });

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ backup: true, env: { BACKUP_SCHEDULE_EVERY: '0' } }));
  tenant = await registerTenant(stack, nc);
  await seedTenant(tenant, 40);
  await eventually(() => (stack.gateway!.deps.directory.get(tenant.tenantId)?.status === 'active' ? true : undefined));
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

describe('tenant-cli backup, backups, restore', () => {
  let backupId: string;

  it('backup takes one, shows progress lines, then the backup', async () => {
    const result = await cli('backup', tenant.tenantId);
    expect(result.code, result.stderr).toBe(0);
    const progress = result.stderr.trim().split('\n');
    expect(progress.at(-1)).toMatch(/^succeeded 100%/);
    backupId = /BACKUP\s+([0-9a-f-]{36})/.exec(result.stdout)![1]!;
    expect(result.stdout).toMatch(/STATUS\s+completed/);
    expect(result.stdout).toMatch(/ROWS\s+\d+/);
    expect(result.stdout).toMatch(/SIZE\s+\d+(\.\d)? (B|KiB|MiB)/);
  }, 60_000);

  it('backup --json prints the final operation with the backup', async () => {
    const result = await cli('backup', tenant.tenantId, '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const body = JSON.parse(result.stdout) as {
      status: string;
      kind: string;
      backup: { status: string; rows: number };
    };
    expect(body).toMatchObject({ kind: 'backup', status: 'succeeded', backup: { status: 'completed' } });
    expect(body.backup.rows).toBeGreaterThanOrEqual(80);
  }, 60_000);

  it('backups lists them as a table, or JSON', async () => {
    const table = await cli('backups', tenant.tenantId);
    expect(table.code, table.stderr).toBe(0);
    const [head, ...rows] = table.stdout.trim().split('\n');
    expect(head?.split(/\s+/)).toEqual(['ID', 'STATUS', 'TRIGGER', 'CREATED', 'TOOK', 'SIZE', 'ROWS', 'VERIFIED']);
    expect(rows).toHaveLength(2);
    expect(rows.some((r) => r.startsWith(backupId) && /completed\s+on-demand/.test(r))).toBe(true);

    const json = JSON.parse((await cli('backups', tenant.tenantId, '--json')).stdout) as { items: { id: string }[] };
    expect(json.items.map((b) => b.id)).toContain(backupId);
  });

  it('restore --clone follows the restore to the end', async () => {
    const result = await cli('restore', tenant.tenantId, '--backup', backupId, '--clone');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^succeeded 100%/);
    expect(result.stdout).toMatch(/MODE\s+clone/);
    expect(result.stdout).toMatch(/STATUS\s+succeeded/);
  }, 60_000);

  it('restore --json in place; errors are one line with exit 1', async () => {
    const result = await cli('restore', tenant.tenantId, '--backup', backupId, '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ kind: 'restore', status: 'succeeded', progress: 100 });

    const missing = randomUUID();
    const unknown = await cli('restore', tenant.tenantId, '--backup', missing);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/^tenant-cli: Backup not found: /);

    const elsewhere = await cli('restore', tenant.tenantId, '--backup', backupId, '--clone', '--region', 'eu-west-1');
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr.trim().split('\n')).toHaveLength(1);
    expect(elsewhere.stderr).toMatch(
      /^tenant-cli: Restore into another region refused: .*stays in its region us-east-1/,
    );

    const noTenant = await cli('backup', randomUUID());
    expect(noTenant.code).toBe(1);
    expect(noTenant.stderr).toMatch(/^tenant-cli: Tenant not found: no tenant has the id \S+\n$/);
  }, 60_000);

  it('migrate moves the tenant to the other region, following the saga', async () => {
    const result = await cli('migrate', tenant.tenantId, '--region', 'eu-west-1');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^succeeded 100%/);
    expect(result.stdout).toMatch(/FROM\s+use1-a \(us-east-1\)/);
    expect(result.stdout).toMatch(/TO\s+euw1-a \(eu-west-1\)/);
    expect(result.stdout).toMatch(/ROWS\s+\d+/);
    const again = await cli('migrate', tenant.tenantId, '--region', 'us-east-1', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      kind: 'migration',
      status: 'succeeded',
      target: { region: 'us-east-1' },
    });
  }, 60_000);

  it('the backup service reports what it measured', async () => {
    const text = await stack.backup!.service.metrics.metrics();
    const line = (name: string, label: string) =>
      text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
    expect(line('backup_last_success_age_seconds', `tenant="${tenant.tenantId}"`)).toMatch(/ \d+(\.\d+)?(e-\d+)?$/);
    expect(line('backup_verification_ok', `tenant="${tenant.tenantId}"`)).toMatch(/ 1$/);
    expect(line('restore_last_duration_seconds', 'mode="clone"')).toBeDefined();
    expect(line('restore_last_duration_seconds', 'mode="in-place"')).toBeDefined();
    expect(text).toMatch(/restore_rows_total\{[^}]*\} [1-9]/);
    expect(line('database_connections_total', 'pool="control-plane"')).toBeDefined();
    expect(text).toMatch(/database_connections_total\{pool="data-plane:us-east-1\/use1-a\/[^"]+"/);
  });
});

describe('tenant-cli archive, unarchive', () => {
  it('archive follows the archive until the tenant is archived; unarchive brings it back', async () => {
    const other = await registerTenant(stack, nc);
    await seedTenant(other, 10);
    await eventually(() => (stack.gateway!.deps.directory.get(other.tenantId)?.status === 'active' ? true : undefined));
    const archived = await cli('archive', other.tenantId);
    expect(archived.code, archived.stderr).toBe(0);
    expect(archived.stdout).toMatch(/STATUS\s+archived/);
    const again = await cli('archive', other.tenantId);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/archived/);

    const back = await cli('unarchive', other.tenantId, '--json');
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ kind: 'restore', status: 'succeeded' });
    await eventually(() => (stack.gateway!.deps.directory.get(other.tenantId)?.status === 'active' ? true : undefined));
  }, 120_000);
});
