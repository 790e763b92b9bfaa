import { randomUUID } from 'node:crypto';
import { DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { ActivateTenant, encodeMessage, Streams, SuspendTenant } from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import type { LightMyRequestResponse } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { ensureActiveSigningKey, rotateSigningKey } from '../src/features/auth/keys.js';
import { authProblemTypes, type Problem } from '../src/problems.js';

const MAX_FAILURES = 3;
const MAX_HASHES = 4 * MAX_FAILURES;
const PASSWORD = 'correct-Horse-battery-9';

let stack: TestStack;
let serial = 0;

beforeAll(async () => {
  // TRUST_PROXY lets each test log in from its own address (X-Forwarded-For), so address limits stay apart.
  stack = await startStack({
    env: {
      LOGIN_MAX_FAILURES: String(MAX_FAILURES),
      LOGIN_MAX_HASHES_PER_ADDRESS: String(MAX_HASHES),
      // Windows close when a test flushes them, never by time.
      LOGIN_AUDIT_WINDOW: '1h',
      TRUST_PROXY: 'true',
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

interface Tokens {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  tenant_id: string;
  user: { id: string; email: string };
}

/** A fresh client address per call site: 10.0.<n>.1. */
const newAddress = () => `10.0.${++serial}.1`;

function inject(
  method: 'GET' | 'POST',
  url: string,
  options: { payload?: unknown; headers?: Record<string, string> } = {},
) {
  return stack.gateway!.app.inject({
    method,
    url,
    ...(options.payload === undefined ? {} : { payload: options.payload as Record<string, unknown> }),
    headers: options.headers ?? {},
  });
}

function login(body: { email: string; password: string; tenant?: string }, address = newAddress()) {
  return inject('POST', '/api/auth/login', { payload: body, headers: { 'x-forwarded-for': address } });
}

function me(accessToken: string) {
  return inject('GET', '/api/tenant/me', { headers: { authorization: `Bearer ${accessToken}` } });
}

function problemOf(response: LightMyRequestResponse): Problem & Record<string, unknown> {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json();
}

/** Register an organization over HTTP and wait until the provisioner has activated it. */
async function activeOrganization(name: string, email: string) {
  const response = await inject('POST', '/api/auth/register-organization', {
    payload: { organization_name: name, admin_email: email, admin_password: PASSWORD, plan: 'free' },
  });
  expect(response.statusCode).toBe(202);
  const { provisioning_id } = response.json<{ provisioning_id: string }>();
  return eventually(() => {
    const entry = stack.gateway!.deps.directory.byProvisioningId(provisioning_id);
    return entry?.status === 'active' ? { tenantId: entry.tenantId, slug: entry.slug! } : undefined;
  }, 20_000);
}

/** Give a tenant's user another password, straight in its data-plane database. */
async function setPassword(tenantId: string, email: string, password: string) {
  const { deps } = stack.gateway!;
  const tenant = deps.directory.get(tenantId)!;
  const hash = await deps.passwords.hash(password);
  await deps.clusterPools.poolFor(tenant.placement!).query(
    `UPDATE core."user" u SET "passwordHash" = $3 FROM core."userWorkspace" uw
      WHERE uw."userId" = u.id AND uw."workspaceId" = $1 AND lower(u.email) = $2`,
    [tenantId, email, hash],
  );
}

async function sendTenantCommand(command: typeof SuspendTenant | typeof ActivateTenant, tenantId: string) {
  const actor = { kind: 'admin' as const, id: 'auth-test' };
  const message =
    command === SuspendTenant
      ? encodeMessage(SuspendTenant, { tenantId, reason: 'unpaid invoice', actor }, { source: '/ttm/test' })
      : encodeMessage(ActivateTenant, { tenantId, actor }, { source: '/ttm/test' });
  await publishMessage(stack.gateway!.deps.js, command.subject, message);
}

/** Every AUDIT entry so far, decoded. */
async function auditEntries(): Promise<Record<string, unknown>[]> {
  const js = stack.gateway!.deps.js;
  const consumer = await js.consumers.get(Streams.AUDIT, { deliver_policy: DeliverPolicy.All });
  const info = await consumer.info(true);
  const pending = info.num_pending;
  const entries: Record<string, unknown>[] = [];
  if (pending === 0) return entries;
  const batch = await consumer.fetch({ max_messages: pending, expires: 2_000 });
  for await (const message of batch) {
    entries.push(message.json<Record<string, unknown>>());
    if (entries.length >= pending) break;
  }
  return entries;
}

describe('login', () => {
  it('runs the whole life: login, suspension stops the token within 1 s, reactivation lets the admin back in', async () => {
    const email = 'owner@lifecycle.test';
    const org = await activeOrganization('Lifecycle Ltd', email);

    const response = await login({ email, password: PASSWORD });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const tokens = response.json<Tokens>();
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900, tenant_id: org.tenantId });
    expect(tokens.user.email).toBe(email);
    expect((await me(tokens.access_token)).json()).toMatchObject({
      tenant_id: org.tenantId,
      user_id: tokens.user.id,
      slug: org.slug,
      plan: 'free',
      status: 'active',
    });

    const suspendedAt = Date.now();
    await sendTenantCommand(SuspendTenant, org.tenantId);
    const refused = await eventually(async () => {
      const answer = await me(tokens.access_token);
      return answer.statusCode === 403 ? answer : undefined;
    }, 1_000);
    expect(Date.now() - suspendedAt).toBeLessThan(1_000);
    expect(problemOf(refused)).toMatchObject({ type: authProblemTypes.tenantSuspended, status: 403 });

    const suspendedLogin = await login({ email, password: PASSWORD });
    expect(suspendedLogin.statusCode).toBe(403);
    expect(problemOf(suspendedLogin).type).toBe(authProblemTypes.tenantSuspended);
    // A wrong password on a suspended tenant says nothing about the suspension.
    expect((await login({ email, password: 'wrong-Password-1' })).statusCode).toBe(401);
    const suspendedRefresh = await inject('POST', '/api/auth/refresh', {
      payload: { refresh_token: tokens.refresh_token },
    });
    expect(suspendedRefresh.statusCode).toBe(403);

    await sendTenantCommand(ActivateTenant, org.tenantId);
    const again = await eventually(async () => {
      const answer = await login({ email, password: PASSWORD });
      return answer.statusCode === 200 ? answer : undefined;
    });
    expect(again.json<Tokens>().tenant_id).toBe(org.tenantId);
    expect((await me(tokens.access_token)).statusCode).toBe(200);
    // The refused refresh did not use up the token.
    const refreshed = await inject('POST', '/api/auth/refresh', { payload: { refresh_token: tokens.refresh_token } });
    expect(refreshed.statusCode).toBe(200);
  });

  it('answers a wrong password and an unknown email alike', async () => {
    const email = 'alike@login.test';
    await activeOrganization('Alike Co', email);
    const wrong = await login({ email, password: 'not-the-Password-1' }, newAddress());
    const unknown = await login({ email: 'nobody@login.test', password: PASSWORD }, newAddress());
    for (const response of [wrong, unknown]) {
      expect(response.statusCode).toBe(401);
      expect(problemOf(response)).toMatchObject({
        type: authProblemTypes.invalidCredentials,
        detail: 'email or password is wrong',
      });
    }
  });

  it('refuses bearer tokens that are missing, malformed or forged', async () => {
    const missing = await inject('GET', '/api/tenant/me');
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toContain('Bearer');
    expect(problemOf(missing).type).toBe(authProblemTypes.invalidAccessToken);

    const garbage = await me('not.a.jwt');
    expect(garbage.statusCode).toBe(401);

    const email = 'forger@login.test';
    await activeOrganization('Forger Co', email);
    const { access_token } = (await login({ email, password: PASSWORD })).json<Tokens>();
    const [header, payload, signature] = access_token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const otherTenant = Buffer.from(JSON.stringify({ ...claims, tid: randomUUID() })).toString('base64url');
    const forged = await me(`${header}.${otherTenant}.${signature}`);
    expect(forged.statusCode).toBe(401);
    expect(problemOf(forged).detail).toContain('signature');
  });

  it(`limits failed logins per email (after ${MAX_FAILURES}) with 429 and Retry-After, before checking the password`, async () => {
    const email = 'target@limit.test';
    await activeOrganization('Limit Ltd', email);
    for (let i = 0; i < MAX_FAILURES; i++) {
      expect((await login({ email, password: `wrong-Password-${i}` }, newAddress())).statusCode).toBe(401);
    }
    const limited = await login({ email, password: PASSWORD }, newAddress());
    expect(limited.statusCode).toBe(429);
    expect(problemOf(limited).type).toBe(authProblemTypes.tooManyLoginFailures);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
  });

  it(`limits password checks per address (after ${MAX_HASHES}), whatever the emails`, async () => {
    const address = newAddress();
    for (let i = 0; i < MAX_HASHES; i++) {
      expect((await login({ email: `guess${i}@spray.test`, password: PASSWORD }, address)).statusCode).toBe(401);
    }
    const limited = await login({ email: 'another@spray.test', password: PASSWORD }, address);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await login({ email: 'another@spray.test', password: PASSWORD }, newAddress())).statusCode).toBe(401);
  });

  it('reserves an attempt before checking: concurrent wrong passwords reach the check at most the limit', async () => {
    const email = 'concurrent@limit.test';
    await activeOrganization('Concurrent Ltd', email);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => login({ email, password: `wrong-Password-${i}` }, newAddress())),
    );
    const codes = answers.map((a) => a.statusCode);
    expect(codes.filter((c) => c === 401)).toHaveLength(MAX_FAILURES);
    expect(codes.filter((c) => c === 429)).toHaveLength(12 - MAX_FAILURES);
  });

  it('counts failures per account: a look-alike organization’s success does not reset the victim’s', async () => {
    const email = 'victim@lookalike.test';
    const victim = await activeOrganization('Victim Corp', email);
    const lookalike = await activeOrganization('Victim Corp 2', email);
    // The look-alike's admin knows their own password only: change it so the two differ.
    const other = 'other-Horse-battery-7';
    await setPassword(lookalike.tenantId, email, other);
    for (let i = 0; i < MAX_FAILURES - 1; i++) {
      const failed = await login({ email, password: `wrong-Password-${i}`, tenant: victim.slug }, newAddress());
      expect(failed.statusCode).toBe(401);
    }
    expect((await login({ email, password: other, tenant: lookalike.slug }, newAddress())).statusCode).toBe(200);
    expect((await login({ email, password: 'wrong-Password-x', tenant: victim.slug }, newAddress())).statusCode).toBe(
      401,
    );
    const limited = await login({ email, password: PASSWORD, tenant: victim.slug }, newAddress());
    expect(limited.statusCode).toBe(429);
  });

  it('counts every password checked against the address: successes and "choose an organization" too', async () => {
    const email = 'busy@hashes.test';
    const first = await activeOrganization('Busy One', email);
    await activeOrganization('Busy Two', email);
    const address = newAddress();
    // Each ambiguous login checks two hashes.
    for (let i = 0; i < MAX_HASHES / 2; i++) {
      expect((await login({ email, password: PASSWORD }, address)).statusCode).toBe(409);
    }
    const limited = await login({ email, password: PASSWORD, tenant: first.slug }, address);
    expect(limited.statusCode).toBe(429);
    expect((await login({ email, password: PASSWORD, tenant: first.slug }, newAddress())).statusCode).toBe(200);
  });

  it('forgets an email’s failures after a successful login', async () => {
    const email = 'forgetful@limit.test';
    await activeOrganization('Forgetful Inc', email);
    const failTwice = async () => {
      for (let i = 0; i < MAX_FAILURES - 1; i++) {
        expect((await login({ email, password: 'wrong-Password-1' }, newAddress())).statusCode).toBe(401);
      }
    };
    await failTwice();
    expect((await login({ email, password: PASSWORD }, newAddress())).statusCode).toBe(200);
    await failTwice();
    expect((await login({ email, password: PASSWORD }, newAddress())).statusCode).toBe(200);
  });

  it('asks which organization when one email administers several, and logs in to the chosen one', async () => {
    const email = 'multi@orgs.test';
    const first = await activeOrganization('Multi One', email);
    const second = await activeOrganization('Multi Two', email);

    const ambiguous = await login({ email, password: PASSWORD });
    expect(ambiguous.statusCode).toBe(409);
    const problem = problemOf(ambiguous);
    expect(problem.type).toBe(authProblemTypes.tenantChoiceRequired);
    expect(problem.detail).toContain(first.slug);
    expect(problem.detail).toContain(second.slug);
    expect(problem.tenants).toEqual(
      expect.arrayContaining([
        { slug: first.slug, tenant_id: first.tenantId },
        { slug: second.slug, tenant_id: second.tenantId },
      ]),
    );

    const bySlug = await login({ email, password: PASSWORD, tenant: first.slug });
    expect(bySlug.statusCode).toBe(200);
    expect(bySlug.json<Tokens>().tenant_id).toBe(first.tenantId);
    const byId = await login({ email, password: PASSWORD, tenant: second.tenantId });
    expect(byId.json<Tokens>().tenant_id).toBe(second.tenantId);
    // A tenant the email does not administer is just a failed login.
    expect((await login({ email, password: PASSWORD, tenant: 'someone-else' }, newAddress())).statusCode).toBe(401);
  });
});

describe('refresh tokens', () => {
  it('rotate; a reused one revokes its whole session; logout ends a session', async () => {
    const email = 'refresh@tokens.test';
    await activeOrganization('Refresh Co', email);
    const first = (await login({ email, password: PASSWORD })).json<Tokens>();

    const rotated = await inject('POST', '/api/auth/refresh', { payload: { refresh_token: first.refresh_token } });
    expect(rotated.statusCode).toBe(200);
    const second = rotated.json<Tokens>();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.tenant_id).toBe(first.tenant_id);
    expect((await me(second.access_token)).statusCode).toBe(200);

    const reused = await inject('POST', '/api/auth/refresh', { payload: { refresh_token: first.refresh_token } });
    expect(reused.statusCode).toBe(401);
    expect(problemOf(reused).type).toBe(authProblemTypes.refreshTokenReused);
    const revoked = await inject('POST', '/api/auth/refresh', { payload: { refresh_token: second.refresh_token } });
    expect(revoked.statusCode).toBe(401);
    expect(problemOf(revoked).type).toBe(authProblemTypes.invalidRefreshToken);

    const session = (await login({ email, password: PASSWORD })).json<Tokens>();
    const logout = await inject('POST', '/api/auth/logout', { payload: { refresh_token: session.refresh_token } });
    expect(logout.statusCode).toBe(204);
    const afterLogout = await inject('POST', '/api/auth/refresh', {
      payload: { refresh_token: session.refresh_token },
    });
    expect(afterLogout.statusCode).toBe(401);
    expect((await inject('POST', '/api/auth/logout', { payload: { refresh_token: 'unknown' } })).statusCode).toBe(204);
  });
});

describe('signing keys', () => {
  const jwks = async () => {
    const response = await inject('GET', '/.well-known/jwks.json');
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toContain('max-age=60');
    return response.json<{ keys: Record<string, string>[] }>();
  };

  it('publishes the active key, and rotation logs nobody out', async () => {
    const email = 'keys@rotation.test';
    const org = await activeOrganization('Rotation Co', email);
    const before = (await login({ email, password: PASSWORD })).json<Tokens>();
    const oldKid = decodeProtectedHeader(before.access_token).kid;

    const published = await jwks();
    expect(published.keys.map((k) => k.kid)).toContain(oldKid);
    for (const key of published.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
    const verified = await jwtVerify(before.access_token, createLocalJWKSet(published as never), {
      issuer: 'ttm',
      audience: 'ttm-tenant-api',
    });
    expect(verified.payload).toMatchObject({ sub: before.user.id, tid: org.tenantId });
    expect(typeof verified.payload.jti).toBe('string');

    const rotation = await rotateSigningKey(stack.gateway!.deps.pool, stack.gateway!.deps.kek);
    expect(rotation.retired).toEqual([oldKid]);
    const both = await eventually(async () => {
      const current = await jwks();
      return current.keys.length === 2 ? current : undefined;
    }, 2_000);
    expect(both.keys.map((k) => k.kid).sort()).toEqual([oldKid, rotation.kid].sort());

    expect((await me(before.access_token)).statusCode).toBe(200);
    const after = (await login({ email, password: PASSWORD })).json<Tokens>();
    expect(decodeProtectedHeader(after.access_token).kid).toBe(rotation.kid);
    expect((await me(after.access_token)).statusCode).toBe(200);
    for (const token of [before.access_token, after.access_token]) {
      await jwtVerify(token, createLocalJWKSet(both as never), { issuer: 'ttm', audience: 'ttm-tenant-api' });
    }
  });

  it('keeps exactly one active key when gateways create or rotate keys at the same time', async () => {
    const { pool, kek } = stack.gateway!.deps;
    const activeKeys = async () =>
      (
        await pool.query<{ kid: string }>(
          'SELECT kid FROM gateway.signing_keys WHERE activated_at IS NOT NULL AND retired_at IS NULL',
        )
      ).rows.map((r) => r.kid);

    const rotations = await Promise.all([rotateSigningKey(pool, kek), rotateSigningKey(pool, kek)]);
    expect(await activeKeys()).toHaveLength(1);
    expect(rotations.map((r) => r.kid)).toContain((await activeKeys())[0]);

    // As on an empty table: several gateways starting at once all end up with the one winner.
    await pool.query('UPDATE gateway.signing_keys SET retired_at = now() WHERE retired_at IS NULL');
    const winners = await Promise.all(Array.from({ length: 4 }, () => ensureActiveSigningKey(pool, kek)));
    expect(new Set(winners).size).toBe(1);
    expect(await activeKeys()).toEqual([winners[0]]);
  });
});

describe('audit and metrics', () => {
  it('records logins, failures, refresh reuse and logouts in AUDIT, with no secrets', async () => {
    const email = 'audited@audit.test';
    const org = await activeOrganization('Audited Co', email);
    const address = newAddress();
    await login({ email, password: 'wrong-Password-1' }, address);
    const tokens = (await login({ email, password: PASSWORD }, address)).json<Tokens>();
    await inject('POST', '/api/auth/refresh', { payload: { refresh_token: tokens.refresh_token } });
    await inject('POST', '/api/auth/refresh', { payload: { refresh_token: tokens.refresh_token } });
    const session = (await login({ email, password: PASSWORD }, address)).json<Tokens>();
    await inject('POST', '/api/auth/logout', { payload: { refresh_token: session.refresh_token } });

    const entries = await eventually(async () => {
      const all = (await auditEntries()).filter((e) => (e.actor as { id: string }).id === email);
      return all.some((e) => e.action === 'logout') ? all : undefined;
    });
    const actions = entries.map((e) => `${e.action}:${e.outcome}`);
    expect(actions).toEqual(
      expect.arrayContaining(['login-failed:failure', 'login:success', 'refresh-reuse:failure', 'logout:success']),
    );
    const success = entries.find((e) => e.action === 'login')!;
    expect(success).toMatchObject({
      actor: { kind: 'user', id: email },
      scope: org.tenantId,
      target: { kind: 'tenant', id: org.tenantId },
      clientAddress: address,
      requestId: expect.any(String),
    });
    const everything = JSON.stringify(await auditEntries());
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain('$argon2');
    expect(everything).not.toContain(tokens.refresh_token);
  });

  it('writes one refused-login entry per account or address per window, then one summary with the count', async () => {
    const sprayer = newAddress();
    for (let i = 0; i < 20; i++) {
      const answer = await login({ email: `spray${i}@flood.test`, password: PASSWORD }, sprayer);
      expect([401, 429]).toContain(answer.statusCode);
    }
    const target = 'target@flood.test';
    for (let i = 0; i < 8; i++) {
      const answer = await login({ email: target, password: `wrong-Password-${i}` }, newAddress());
      expect([401, 429]).toContain(answer.statusCode);
    }
    await stack.gateway!.deps.refusedLogins.flush();

    const entries = await eventually(async () => {
      const all = (await auditEntries()).filter((e) => {
        const actor = (e.actor as { id: string }).id;
        const about = `${actor} ${String(e.detail)} ${JSON.stringify(e.target)}`;
        return about.includes('flood.test') || about.includes(sprayer);
      });
      return all.filter((e) => e.action === 'login-failed-summary').length >= 2 ? all : undefined;
    });
    const written = entries.filter((e) => e.action === 'login-failed');
    expect(written.map((e) => (e.actor as { id: string }).id).sort()).toEqual(['spray0@flood.test', target]);
    const summaries = entries.filter((e) => e.action === 'login-failed-summary');
    expect(summaries).toHaveLength(2);
    expect(summaries.map((e) => e.detail)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^19 more refused logins from ${sprayer.replaceAll('.', '\\.')} `)),
        expect.stringMatching(/^7 more refused logins for this account/),
      ]),
    );
    const metrics = await inject('GET', '/metrics');
    expect(metrics.body).toMatch(/login_refusals_folded_total(\{[^}]*\})? (2[6-9]|[3-9]\d)/);
  });

  it('counts login attempts by outcome', async () => {
    const metrics = await inject('GET', '/metrics');
    expect(metrics.body).toMatch(/login_attempts_total\{outcome="success"[^}]*\} [1-9]/);
    expect(metrics.body).toMatch(/login_attempts_total\{outcome="failure"[^}]*\} [1-9]/);
    expect(metrics.body).toMatch(/login_attempts_total\{outcome="rate_limited"[^}]*\} [1-9]/);
  });
});

describe('a full AUDIT stream', () => {
  it('never breaks logins: the lost entries are counted and logged', async () => {
    const email = 'full@audit.test';
    await activeOrganization('Full Audit', email);
    const jsm = await jetstreamManager(stack.gateway!.deps.nc);
    const { config } = await jsm.streams.info(Streams.AUDIT);
    await jsm.streams.update(Streams.AUDIT, { ...config, max_bytes: 1 });
    try {
      expect((await login({ email, password: PASSWORD })).statusCode).toBe(200);
      expect((await login({ email, password: 'wrong-Password-1' })).statusCode).toBe(401);
      const tokens = (await login({ email, password: PASSWORD })).json<Tokens>();
      expect(
        (await inject('POST', '/api/auth/refresh', { payload: { refresh_token: tokens.refresh_token } })).statusCode,
      ).toBe(200);
      const metrics = await inject('GET', '/metrics');
      expect(metrics.body).toMatch(/audit_write_failures_total\{action="login"[^}]*\} [1-9]/);
    } finally {
      await jsm.streams.update(Streams.AUDIT, { ...config, max_bytes: config.max_bytes });
    }
  });
});
