import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../../../test/support/http.js';
import { startStack, type TestStack } from '../../../test/support/stack.js';
import { runCli } from './support/runCli.js';

// Against the real gateway and provisioner: an organization's Admin manages its users.
let stack: TestStack;
let adminToken: string;
let adminId: string;
const PASSWORD = 'correct-Horse-battery-9';
const cli = (...args: string[]) => runCli(args, { TTM_URL: stack.url, TTM_TOKEN: adminToken });

beforeAll(async () => {
  stack = await startStack();
  const signedUp = await signUp(
    stack.gateway!,
    { name: 'Cli Users Co', email: 'owner@cli-users.test', password: PASSWORD, plan: 'pro' },
    60_000,
  );
  adminToken = signedUp.token;
  adminId = signedUp.userId;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('tenant-cli users', () => {
  it('invites a Member whose token sets a password, lists the users, and removes one', async () => {
    const invited = await cli('users', 'invite', 'member@cli-users.test', '--role', 'Member');
    expect(invited.code, invited.stderr).toBe(0);
    const token = invited.stdout.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(invited.stdout).toMatch(/ROLE\s+Member/);

    // The printed token is the real invitation: the user sets a password and logs in.
    const accepted = await fetch(`${stack.url}/api/auth/accept-invitation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, password: 'Member-password-42' }),
    });
    expect(accepted.status).toBe(200);
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'member@cli-users.test', password: 'Member-password-42' }),
    });
    expect(login.status).toBe(200);

    const admin = await cli('users', 'invite', 'second-admin@cli-users.test', '--role', 'Admin', '--json');
    expect(admin.code, admin.stderr).toBe(0);
    const adminUser = JSON.parse(admin.stdout) as { id: string; role: string; invitation: { token: string } };
    expect(adminUser.role).toBe('Admin');

    const listed = await cli('users', 'list');
    expect(listed.code, listed.stderr).toBe(0);
    const [head, ...rows] = listed.stdout.trim().split('\n');
    expect(head?.split(/\s+/)).toEqual(['ID', 'EMAIL', 'ROLE', 'NAME', 'CREATED']);
    expect(rows.join('\n')).toMatch(new RegExp(`${adminId}\\s+owner@cli-users.test\\s+Admin`));
    expect(rows.join('\n')).toMatch(/member@cli-users\.test\s+Member/);
    expect(rows.join('\n')).toContain(adminUser.id);

    const removed = await cli('users', 'remove', adminUser.id);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout.trim()).toBe(`removed user ${adminUser.id}`);
    const after = JSON.parse((await cli('users', 'list', '--json')).stdout) as { items: { id: string }[] };
    expect(after.items.map((u) => u.id)).not.toContain(adminUser.id);
    expect(after.items).toHaveLength(2);
  });

  it('answers problems in one line: removing yourself, an unknown user, a bad role, no token', async () => {
    const self = await cli('users', 'remove', adminId);
    expect(self.code).toBe(1);
    expect(self.stderr.trim().split('\n')).toHaveLength(1);
    expect(self.stderr).toMatch(/^tenant-cli: .*yourself/);

    const unknown = await cli('users', 'remove', '00000000-0000-4000-8000-000000000000');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^tenant-cli: .*404|not found/i);

    const role = await cli('users', 'invite', 'x@cli-users.test', '--role', 'Owner');
    expect(role.code).toBe(1);
    expect(role.stderr).toMatch(/Admin, Member/);

    const noToken = await runCli(['users', 'list'], { TTM_URL: stack.url });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr.trim()).toMatch(/^tenant-cli: .*TTM_TOKEN/);
  });

  it('takes --token over TTM_TOKEN: a Member token is refused', async () => {
    const member = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'member@cli-users.test', password: 'Member-password-42' }),
    });
    const { access_token: memberToken } = (await member.json()) as { access_token: string };
    const refused = await cli('users', '--token', memberToken, 'invite', 'y@cli-users.test');
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(/^tenant-cli: Not allowed for your role: .*Admin.* \(check TTM_TOKEN\)$/);
  });
});
