import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../../../test/support/http.js';
import { startStack, type TestStack } from '../../../test/support/stack.js';
import { tenantApiProblemTypes } from '../src/features/tenantApi/problems.js';
import { authProblemTypes, type Problem } from '../src/problems.js';

const PASSWORD = 'correct-Horse-battery-9';

let stack: TestStack;
let admin: { tenantId: string; token: string; userId: string };

type Method = 'GET' | 'POST' | 'DELETE';
type Credential = { token?: string; apiKey?: string };

function call(method: Method, url: string, auth: Credential, payload?: unknown) {
  const headers: Record<string, string> = {};
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  if (auth.apiKey) headers['x-api-key'] = auth.apiKey;
  return stack.gateway!.app.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

function problemOf(response: LightMyRequestResponse): Problem & Record<string, unknown> {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json();
}

interface Invited {
  id: string;
  role: string;
  invitation: { token: string; expires_at: string };
}

async function invite(by: Credential, email: string, role: 'Admin' | 'Member') {
  const response = await call('POST', '/api/tenant/users', by, { email, role });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<Invited>();
}

function accept(token: string, password: string) {
  return stack.gateway!.app.inject({
    method: 'POST',
    url: '/api/auth/accept-invitation',
    payload: { token, password },
  });
}

async function login(email: string, password = PASSWORD) {
  const response = await stack.gateway!.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email, password },
  });
  return response;
}

async function signedIn(email: string) {
  const response = await login(email);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ access_token: string; refresh_token: string; user: { id: string } }>();
}

async function createKey(by: Credential, scopes?: string[]) {
  return call('POST', '/api/tenant/api-keys', by, { name: 'k', ...(scopes ? { scopes } : {}) });
}

beforeAll(async () => {
  stack = await startStack({ env: { ENABLE_RATE_LIMITING: 'false' } });
  const signed = await signUp(stack.gateway!, {
    name: 'Roles Ltd',
    email: 'owner@roles.test',
    password: PASSWORD,
    plan: 'pro',
  });
  admin = { tenantId: signed.entry.tenantId, token: signed.token, userId: signed.userId };
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('invited users', () => {
  it('set a password once with the invitation token, then log in; the token does not work twice', async () => {
    const invited = await invite({ token: admin.token }, 'Mia@Roles.test', 'Member');
    expect(invited.invitation.token.length).toBeGreaterThanOrEqual(43);
    // Before accepting, nobody can log in as the invited user (no password yet).
    expect((await login('mia@roles.test', '')).statusCode).toBe(400);
    expect((await login('mia@roles.test', PASSWORD)).statusCode).toBe(401);

    const weak = await accept(invited.invitation.token, 'short');
    expect(weak.statusCode).toBe(400);
    expect(problemOf(weak).type).toBe('https://ttm.dev/problems/weak-password');
    const accepted = await accept(invited.invitation.token, PASSWORD);
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(accepted.json()).toMatchObject({ tenant_id: admin.tenantId, user_id: invited.id, email: 'mia@roles.test' });
    const again = await accept(invited.invitation.token, 'another-Horse-battery-1');
    expect(again.statusCode).toBe(400);
    expect(problemOf(again).type).toBe(tenantApiProblemTypes.invalidInvitation);

    const tokens = await signedIn('mia@roles.test');
    expect(tokens.user.id).toBe(invited.id);
    const me = await call('GET', '/api/tenant/me', { token: tokens.access_token });
    expect(me.json()).toMatchObject({ tenant_id: admin.tenantId, user_id: invited.id });
  });

  it('refuses an expired invitation, and a reissued one replaces the old', async () => {
    const invited = await invite({ token: admin.token }, 'late@roles.test', 'Member');
    await stack.gateway!.deps.pool.query(
      `UPDATE gateway.invitations SET expires_at = now() - interval '1 second' WHERE user_id = $1`,
      [invited.id],
    );
    expect((await accept(invited.invitation.token, PASSWORD)).statusCode).toBe(400);
    const reissued = await call('POST', `/api/tenant/users/${invited.id}/invitation`, { token: admin.token });
    expect(reissued.statusCode, reissued.body).toBe(201);
    const second = reissued.json<{ token: string }>().token;
    const third = (await call('POST', `/api/tenant/users/${invited.id}/invitation`, { token: admin.token })).json<{
      token: string;
    }>().token;
    expect((await accept(second, PASSWORD)).statusCode).toBe(400);
    expect((await accept(third, PASSWORD)).statusCode).toBe(200);
    // Once a password is set there is nothing to reissue.
    expect((await call('POST', `/api/tenant/users/${invited.id}/invitation`, { token: admin.token })).statusCode).toBe(
      404,
    );
  });
});

describe('roles', () => {
  it('lets a Member work with records but not manage users, keys or webhooks', async () => {
    const invited = await invite({ token: admin.token }, 'member@roles.test', 'Member');
    expect((await accept(invited.invitation.token, PASSWORD)).statusCode).toBe(200);
    const member = { token: (await signedIn('member@roles.test')).access_token };

    expect((await call('GET', '/api/tenant/users', member)).statusCode).toBe(200);
    expect((await call('POST', '/api/tenant/objects/note', member, { title: 'by a member' })).statusCode).toBe(201);
    expect((await call('GET', '/api/tenant/objects/note', member)).statusCode).toBe(200);

    const refused = [
      await call('POST', '/api/tenant/users', member, { email: 'x@roles.test', role: 'Admin' }),
      await call('DELETE', `/api/tenant/users/${admin.userId}`, member),
      await call('POST', `/api/tenant/users/${invited.id}/invitation`, member),
      await createKey(member),
      await call('GET', '/api/tenant/api-keys', member),
      await call('GET', '/api/tenant/webhooks', member),
    ];
    for (const response of refused) {
      expect(response.statusCode, response.body).toBe(403);
      expect(problemOf(response).type).toBe(tenantApiProblemTypes.roleRequired);
    }
    // Nothing was invited.
    const users = (await call('GET', '/api/tenant/users', { token: admin.token })).json<{
      items: { email: string }[];
    }>();
    expect(users.items.map((u) => u.email)).not.toContain('x@roles.test');
  });

  it('gives API keys only their scopes: records by default, users only with users:manage, no escalation', async () => {
    const plain = (await createKey({ token: admin.token })).json<{ key: string; scopes: string[] }>();
    expect(plain.scopes).toEqual(['records:read', 'records:write']);
    const byKey = { apiKey: plain.key };
    expect((await call('POST', '/api/tenant/objects/note', byKey, { title: 'by key' })).statusCode).toBe(201);
    for (const response of [
      await call('POST', '/api/tenant/users', byKey, { email: 'admin2@roles.test', role: 'Admin' }),
      await call('DELETE', `/api/tenant/users/${admin.userId}`, byKey),
      await createKey(byKey),
      await call('GET', '/api/tenant/webhooks', byKey),
    ]) {
      expect(response.statusCode, response.body).toBe(403);
      expect(problemOf(response).type).toBe(tenantApiProblemTypes.insufficientScope);
    }

    const readOnly = (await createKey({ token: admin.token }, ['records:read'])).json<{ key: string }>();
    expect((await call('GET', '/api/tenant/objects/note', { apiKey: readOnly.key })).statusCode).toBe(200);
    expect((await call('POST', '/api/tenant/objects/note', { apiKey: readOnly.key }, { title: 'x' })).statusCode).toBe(
      403,
    );

    const manager = (await createKey({ token: admin.token }, ['users:manage', 'api-keys:manage'])).json<{
      key: string;
    }>();
    const invited = await call('POST', '/api/tenant/users', { apiKey: manager.key }, { email: 'bykey@roles.test' });
    expect(invited.statusCode, invited.body).toBe(201);
    const escalated = await createKey({ apiKey: manager.key }, ['records:write']);
    expect(escalated.statusCode).toBe(403);
    expect(problemOf(escalated).type).toBe(tenantApiProblemTypes.insufficientScope);
    expect((await createKey({ apiKey: manager.key }, ['users:manage'])).statusCode).toBe(201);
  });

  it('removing a user ends its sessions and keys, and its Admin rights at once', async () => {
    const invited = await invite({ token: admin.token }, 'leaver@roles.test', 'Admin');
    expect((await accept(invited.invitation.token, PASSWORD)).statusCode).toBe(200);
    const session = await signedIn('leaver@roles.test');
    const leaver = { token: session.access_token };
    const key = (await createKey(leaver, ['users:manage'])).json<{ key: string }>();
    expect((await call('GET', '/api/tenant/api-keys', leaver)).statusCode).toBe(200);

    expect((await call('DELETE', `/api/tenant/users/${invited.id}`, { token: admin.token })).statusCode).toBe(204);

    const refreshed = await stack.gateway!.app.inject({
      method: 'POST',
      url: '/api/auth/refresh',
      payload: { refresh_token: session.refresh_token },
    });
    expect(refreshed.statusCode).toBe(401);
    expect((await call('GET', '/api/tenant/me', { apiKey: key.key })).statusCode).toBe(401);
    // Its access token lives until it expires, but no longer carries any Admin right.
    const stillAdmin = await call('GET', '/api/tenant/api-keys', leaver);
    expect(stillAdmin.statusCode).toBe(403);
    expect(problemOf(stillAdmin).type).toBe(tenantApiProblemTypes.roleRequired);
    expect((await login('leaver@roles.test')).statusCode).toBe(401);
  });

  it('answers problem+json for a forbidden route like any other error', async () => {
    const response = await call('GET', '/api/tenant/api-keys', {});
    expect(response.statusCode).toBe(401);
    expect(problemOf(response).type).toBe(authProblemTypes.invalidAccessToken);
  });
});
