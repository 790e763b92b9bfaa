import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RegisterOrganization, Streams } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/support/stack.js';
import type { Gateway } from '../src/gateway.js';
import { authProblemTypes, type Problem } from '../src/problems.js';

/**
 * Issue 12 item 9 (per-address and total registration limits) and item 2 (no password hash on
 * the command stream). No provisioner: the commands stay on COMMANDS, where they are read back.
 */
let stack: TestStack;
let gateway: Gateway;
let nc: NatsConnection;
let serial = 0;
const PASSWORD = 'correct-Horse-battery-9';

beforeAll(async () => {
  stack = await startStack({ provisioner: false, gateway: false });
  // One proxy hop in front: the address is the last X-Forwarded-For entry.
  gateway = await stack.startExtraGateway({
    TRUST_PROXY: '1',
    REGISTRATION_MAX_PER_ADDRESS: '2',
    REGISTRATION_MAX_TOTAL: '5',
    REGISTRATION_WINDOW: '1h',
  });
  nc = await connect({ servers: stack.nats.url });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await stack?.stop();
});

function register(address: string, headers: Record<string, string> = {}) {
  serial++;
  return fetch(`${gateway.url}/api/auth/register-organization`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': `6.6.6.6, ${address}`, ...headers },
    body: JSON.stringify({
      organization_name: `Squat ${serial}`,
      admin_email: `admin${serial}@squat.test`,
      admin_password: PASSWORD,
      plan: 'pro',
    }),
  });
}

describe('registration limits', () => {
  it('refuses a third registration from one address with 429 problem+json and Retry-After; others still register', async () => {
    expect((await register('10.0.0.1')).status).toBe(202);
    expect((await register('10.0.0.1')).status).toBe(202);
    const refused = await register('10.0.0.1');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    const problem = (await refused.json()) as Problem;
    expect(problem).toMatchObject({ type: authProblemTypes.tooManyRegistrations, status: 429 });
    // A forged left part of X-Forwarded-For changes nothing: the proxy's entry is the address.
    expect((await register('10.0.0.1', { 'x-forwarded-for': '1.2.3.4, 10.0.0.1' })).status).toBe(429);
    expect((await register('10.0.0.2')).status).toBe(202);
  });

  it('refuses everyone once the total for the window is reached', async () => {
    // 3 counted so far (10.0.0.1 twice, 10.0.0.2 once); refused ones took nothing.
    expect((await register('10.0.0.3')).status).toBe(202);
    expect((await register('10.0.0.4')).status).toBe(202);
    const refused = await register('10.0.0.5');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('does not count a replayed Idempotency-Key again', async () => {
    // The total is used up: a replay of an accepted registration still answers its first answer.
    const key = 'replay-after-limit-0001';
    const fresh = await stack.startExtraGateway({ REGISTRATION_MAX_PER_ADDRESS: '1', REGISTRATION_MAX_TOTAL: '0' });
    const send = (idempotencyKey = key) =>
      fresh.app.inject({
        method: 'POST',
        url: '/api/auth/register-organization',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        payload: {
          organization_name: 'Replay Co',
          admin_email: 'replay@squat.test',
          admin_password: PASSWORD,
          plan: 'pro',
        },
      });
    expect((await send()).statusCode).toBe(202);
    const again = await send();
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    // While a new registration from the same address is refused.
    expect((await send('another-key-after-limit-0002')).statusCode).toBe(429);
  }, 120_000);
});

describe('the registration command', () => {
  it('carries no argon2 hash: the hash is sealed under the KEK and bound to the tenant', async () => {
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage(Streams.COMMANDS, { last_by_subj: RegisterOrganization.subject });
    expect(stored).not.toBeNull();
    const text = new TextDecoder().decode(stored!.data);
    expect(text).not.toContain('$argon2');
    const body = JSON.parse(text) as { adminPasswordHash: unknown };
    expect(body.adminPasswordHash).toMatchObject({ sealed: 'ttm-envelope-v1' });
    // And none of the commands on the stream has one.
    const info = await jsm.streams.info(Streams.COMMANDS);
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const message = await jsm.streams.getMessage(Streams.COMMANDS, { seq }).catch(() => null);
      if (message) expect(new TextDecoder().decode(message.data)).not.toContain('$argon2');
    }
  });
});
