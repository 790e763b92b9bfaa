import { randomUUID } from 'node:crypto';
import { type DataOf, encodeMessage, Subjects, TenantRegistered } from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../../../test/support/http.js';
import { startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';
import { DEFAULT_ADMIN_KEY } from '../src/config.js';
import { type Gateway, startGateway } from '../src/gateway.js';

const PASSWORD = 'correct-Horse-battery-9';

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('the admin key', () => {
  it('refuses to start with the development key off loopback or outside development', async () => {
    const { SUPER_ADMIN_KEY: _unset, ...env } = stack.env;
    await expect(startGateway({ ...env, HOST: '0.0.0.0' }, { handleSignals: false })).rejects.toThrow(
      /SUPER_ADMIN_KEY is the development default/,
    );
    await expect(
      startGateway({ ...env, SUPER_ADMIN_KEY: DEFAULT_ADMIN_KEY, NODE_ENV: 'production' }, { handleSignals: false }),
    ).rejects.toThrow(/SUPER_ADMIN_KEY is the development default/);
  });
});

describe('HTTP hardening', () => {
  it('sends HSTS, nosniff and frame-ancestors, and no CORS headers by default', async () => {
    const response = await fetch(`${stack.url}/`, { headers: { origin: 'https://evil.example' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(stack.gateway!.app.server.requestTimeout).toBe(30_000);
  });

  it('answers CORS only for the origins of CORS_ORIGINS', async () => {
    const gateway = await stack.startExtraGateway({ CORS_ORIGINS: 'https://app.example, https://crm.example' });
    const preflight = (origin: string) =>
      fetch(`${gateway.url}/api/tenant/me`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
    const allowed = await preflight('https://crm.example');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://crm.example');
    const refused = await preflight('https://evil.example');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('believes X-Forwarded-For only as far as TRUST_PROXY hops reach', async () => {
    const gateway = await stack.startExtraGateway({ TRUST_PROXY: '1', LOGIN_MAX_HASHES_PER_ADDRESS: '2' });
    const login = (forwarded: string) =>
      fetch(`${gateway.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwarded },
        body: JSON.stringify({ email: 'nobody@hops.test', password: PASSWORD }),
      });
    // The client forges the left part; the proxy (one hop) appends the address it saw: 10.1.1.1.
    expect((await login('6.6.6.1, 10.1.1.1')).status).toBe(401);
    expect((await login('6.6.6.2, 10.1.1.1')).status).toBe(401);
    expect((await login('6.6.6.3, 10.1.1.1')).status).toBe(429);
    expect((await login('6.6.6.3, 10.2.2.2')).status).toBe(401);
  });

  it('serves /metrics and /docs only with the admin key when OPS_ENDPOINTS_ACCESS=admin-key', async () => {
    const gateway: Gateway = await stack.startExtraGateway({ OPS_ENDPOINTS_ACCESS: 'admin-key' });
    for (const path of ['/metrics', '/docs/openapi.json']) {
      const anonymous = await fetch(`${gateway.url}${path}`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(
        (await fetch(`${gateway.url}${path}`, { headers: { 'x-admin-key': 'wrong-key-0123456789' } })).status,
      ).toBe(401);
      expect((await fetch(`${gateway.url}${path}`, { headers: { 'x-admin-key': TEST_ADMIN_KEY } })).status).toBe(200);
      expect(
        (await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).status,
      ).toBe(200);
    }
    expect((await fetch(`${gateway.url}/health/live`)).status).toBe(200);
    // The default gateway keeps them open.
    expect((await fetch(`${stack.url}/metrics`)).status).toBe(200);
  });
});

describe('operations', () => {
  it('show a tenant only its own operations; operators see all; a wrong admin key is refused', async () => {
    const [a, b] = await Promise.all([
      signUp(stack.gateway!, { name: 'Ops Alpha', email: 'a@ops.test', password: PASSWORD, plan: 'free' }),
      signUp(stack.gateway!, { name: 'Ops Beta', email: 'b@ops.test', password: PASSWORD, plan: 'free' }),
    ]);
    const url = `${stack.url}/api/operations/${a.entry.provisioningId}`;
    expect((await fetch(url, { headers: { authorization: `Bearer ${a.token}` } })).status).toBe(200);
    expect((await fetch(url, { headers: { authorization: `Bearer ${b.token}` } })).status).toBe(404);
    expect((await fetch(url, { headers: { authorization: 'Bearer forged.token.value' } })).status).toBe(401);
    expect((await fetch(url, { headers: { 'x-admin-key': TEST_ADMIN_KEY } })).status).toBe(200);
    expect((await fetch(url, { headers: { 'x-admin-key': 'wrong-key-0123456789' } })).status).toBe(401);
    const events = await fetch(`${url}/events`, { headers: { authorization: `Bearer ${b.token}` } });
    expect(events.status).toBe(404);
  });

  it('caps the event streams one address holds open', async () => {
    const gateway = await stack.startExtraGateway({ OPERATION_STREAMS_PER_ADDRESS: '1' });
    // A registration the provisioner never sees: its operation stays pending, its stream open.
    const ids = { provisioningId: randomUUID(), tenantId: randomUUID() };
    const data: DataOf<typeof TenantRegistered> = {
      ...ids,
      organizationName: 'Stream Cap',
      adminEmail: 'cap@ops.test',
      plan: 'free',
      region: 'us-east-1',
      registeredAt: new Date().toISOString(),
    };
    await publishMessage(
      gateway.deps.js,
      Subjects.tenantEvents(ids.tenantId),
      encodeMessage(TenantRegistered, data, { source: '/test', subject: ids.tenantId }),
    );
    const path = `${gateway.url}/api/operations/${ids.provisioningId}/events`;
    const leave = new AbortController();
    const first = await fetch(path, { signal: leave.signal });
    expect(first.status).toBe(200);
    const second = await fetch(path);
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBeTruthy();
    leave.abort();
  });
});

describe('passwords and sessions', () => {
  it('refuses a common password at registration', async () => {
    const response = await fetch(`${stack.url}/api/auth/register-organization`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        organization_name: 'Common Pw',
        admin_email: 'common@pw.test',
        admin_password: 'Password123',
        plan: 'free',
      }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toContain('most common passwords');
  });

  it('ends a session at its absolute lifetime, however often it was refreshed', async () => {
    const { entry } = await signUp(stack.gateway!, {
      name: 'Long Session',
      email: 'long@session.test',
      password: PASSWORD,
      plan: 'free',
    });
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'long@session.test', password: PASSWORD }),
    });
    const { refresh_token } = (await login.json()) as { refresh_token: string };
    const refresh = (token: string) =>
      fetch(`${stack.url}/api/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: token }),
      });
    const first = await refresh(refresh_token);
    expect(first.status).toBe(200);
    const next = ((await first.json()) as { refresh_token: string }).refresh_token;
    // The login happened 91 days ago (REFRESH_TOKEN_MAX_LIFETIME defaults to 90 days).
    await stack.gateway!.deps.pool.query(
      `UPDATE gateway.refresh_tokens SET created_at = created_at - interval '91 days' WHERE tenant_id = $1`,
      [entry.tenantId],
    );
    const late = await refresh(next);
    expect(late.status).toBe(401);
  });
});
