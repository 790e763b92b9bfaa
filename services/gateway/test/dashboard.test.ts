import { once } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ensureDashboardBuilt } from '../../../test/support/browser.js';
import { problem } from '../../../test/support/http.js';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';
import type { ServerMessage, TickMessage } from '../src/features/dashboard/protocol.js';

let stack: TestStack;

beforeAll(async () => {
  await ensureDashboardBuilt();
  stack = await startStack({ provisioner: false, env: { LOGIN_MAX_FAILURES: '3' } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const liveUrl = () => `${stack.url.replace('http', 'ws')}/api/admin/live`;

/** A socket that queues what it receives, so no message is lost between awaits. */
class Client {
  readonly messages: ServerMessage[] = [];
  private waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | undefined;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as ServerMessage);
      this.wake();
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  static async open(headers: Record<string, string> = { 'x-admin-key': TEST_ADMIN_KEY }): Promise<Client> {
    const socket = new WebSocket(liveUrl(), { headers });
    const client = new Client(socket);
    await once(socket, 'open');
    return client;
  }

  /** The first queued message of `type` (removing it and those before it). */
  async next<T extends ServerMessage['type']>(type: T): Promise<Extract<ServerMessage, { type: T }>> {
    for (;;) {
      const index = this.messages.findIndex((message) => message.type === type);
      if (index >= 0) return this.messages.splice(0, index + 1)[index] as Extract<ServerMessage, { type: T }>;
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) before a ${type}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async closing(): Promise<{ code: number; reason: string }> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.closed;
  }

  send(value: unknown): void {
    this.socket.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** The status of a refused upgrade. */
async function refusedUpgrade(headers: Record<string, string>): Promise<number> {
  const socket = new WebSocket(liveUrl(), { headers });
  socket.on('error', () => undefined);
  const [request, response] = (await once(socket, 'unexpected-response')) as [ClientRequest, IncomingMessage];
  request.destroy();
  return response.statusCode ?? 0;
}

async function signIn(key = TEST_ADMIN_KEY): Promise<Response> {
  return fetch(`${stack.url}/api/dashboard/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
  });
}

function sessionCookie(response: Response): string {
  const header = response.headers.get('set-cookie') ?? '';
  return header.split(';')[0]!;
}

describe('dashboard sign-in', () => {
  it('sets an HttpOnly, SameSite=Strict session cookie for the operator key, and it authorizes the admin API', async () => {
    const response = await signIn();
    expect(response.status).toBe(204);
    const header = response.headers.get('set-cookie') ?? '';
    expect(header).toMatch(/^ttm_session=[\w-]{40,};/);
    expect(header).toMatch(/HttpOnly/);
    expect(header).toMatch(/SameSite=Strict/);
    expect(header).not.toContain(TEST_ADMIN_KEY);
    const cookie = sessionCookie(response);
    const stats = await fetch(`${stack.url}/api/admin/stats`, { headers: { cookie } });
    expect(stats.status).toBe(200);
    const session = await fetch(`${stack.url}/api/dashboard/session`, { headers: { cookie } });
    expect(await session.json()).toEqual({ signed_in: true });
  });

  it('refuses a change authorized by the cookie alone without the CSRF header', async () => {
    const cookie = sessionCookie(await signIn());
    const url = `${stack.url}/api/admin/tenants/00000000-0000-4000-8000-000000000000/activate`;
    await problem(await fetch(url, { method: 'POST', headers: { cookie } }), 403);
    await problem(await fetch(url, { method: 'POST', headers: { cookie, 'x-ttm-csrf': '1' } }), 404);
  });

  it('signs out: the cookie no longer authorizes anything', async () => {
    const cookie = sessionCookie(await signIn());
    const out = await fetch(`${stack.url}/api/dashboard/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-ttm-csrf': '1' },
    });
    expect(out.status).toBe(204);
    await problem(await fetch(`${stack.url}/api/admin/stats`, { headers: { cookie } }), 401);
  });

  it('answers a wrong key with a clear problem, and applies the login limits of the API', async () => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const body = await problem(await signIn('wrong-key'), 401);
      expect(body.detail).toContain('not the operator key');
    }
    const limited = await signIn('wrong-key');
    await problem(limited.clone(), 429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Still limited with the right key until the window ends: guessing gains nothing.
    await problem(await signIn(), 429);
  });
});

describe('the page and its documentation', () => {
  it('serves the dashboard at /dashboard and its client routes, with a content security policy', async () => {
    for (const path of ['/dashboard', '/dashboard/tenants', '/dashboard/tenants/some-id']) {
      const response = await fetch(`${stack.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
      const html = await response.text();
      const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(script).toBeDefined();
      expect((await fetch(`${stack.url}${script}`)).status).toBe(200);
    }
  });

  it('documents the live stream protocol and the session routes in the OpenAPI document', async () => {
    const document = (await (await fetch(`${stack.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { description?: string }>>;
    };
    const live = document.paths['/api/admin/live']?.get?.description ?? '';
    for (const term of ['"v": 1', 'seq', 'resume', 'snapshot', 'tick', '1007', '4008', '401']) {
      expect(live).toContain(term);
    }
    expect(Object.keys(document.paths['/api/dashboard/session'] ?? {}).sort()).toEqual(['delete', 'get', 'post']);
  });
});

describe('the live stream at /api/admin/live', () => {
  it('answers a plain GET with 426: the stream is a WebSocket', async () => {
    await problem(await fetch(liveUrl().replace('ws', 'http'), { headers: { 'x-admin-key': TEST_ADMIN_KEY } }), 426);
  });

  it('refuses an upgrade without a session or key with 401', async () => {
    expect(await refusedUpgrade({})).toBe(401);
    expect(await refusedUpgrade({ cookie: 'ttm_session=forged' })).toBe(401);
    expect(await refusedUpgrade({ 'x-admin-key': 'wrong' })).toBe(401);
  });

  it('sends a versioned welcome and snapshot, then sequenced ticks', async () => {
    const client = await Client.open();
    client.send({ v: 1, type: 'hello' });
    const welcome = await client.next('welcome');
    expect(welcome).toMatchObject({ v: 1, type: 'welcome', data: { resumed: false, tick_ms: 500 } });
    const snapshot = await client.next('snapshot');
    expect(snapshot.data.overview.tenants).toMatchObject({ total: expect.any(Number) });
    expect(snapshot.data.overview.projection_lag).toHaveProperty('gateway-tenants');
    const first = await client.next('tick');
    const second = await client.next('tick');
    expect(first.epoch).toBe(welcome.epoch);
    expect(second.seq).toBe(first.seq + 1);
    client.send({ v: 1, type: 'ping' });
    await client.next('pong');
    client.socket.close();
  });

  it('resumes a reconnecting client from its last sequence, replaying what it missed', async () => {
    const first = await Client.open();
    first.send({ v: 1, type: 'hello' });
    await first.next('snapshot');
    const last = await first.next('tick');
    first.socket.close();
    await first.closing();
    // Reconnect after at least one more tick was produced without us.
    const later = await Client.open();
    later.send({ v: 1, type: 'hello' });
    const now = await later.next('tick');
    expect(now.seq).toBeGreaterThan(last.seq);
    later.socket.close();

    const resumed = await Client.open();
    resumed.send({ v: 1, type: 'hello', resume: { epoch: last.epoch, seq: last.seq } });
    expect((await resumed.next('welcome')).data.resumed).toBe(true);
    const replayed = await resumed.next('tick');
    expect(replayed.seq).toBe(last.seq + 1);
    expect(resumed.messages.some((message) => message.type === 'snapshot')).toBe(false);
    resumed.socket.close();

    const otherEpoch = await Client.open();
    otherEpoch.send({ v: 1, type: 'hello', resume: { epoch: 'another-process', seq: 5 } });
    expect((await otherEpoch.next('welcome')).data.resumed).toBe(false);
    await otherEpoch.next('snapshot');
    otherEpoch.socket.close();
  });

  it('closes on malformed, unknown and oversized messages with a reason, and keeps serving', async () => {
    const cases: [unknown, number, RegExp][] = [
      ['{not json', 1007, /malformed message: not JSON/],
      [{ v: 1, type: 'subscribe' }, 1007, /malformed message/],
      [{ v: 2, type: 'hello' }, 1008, /unsupported protocol version/],
      [{ v: 1, type: 'ping', extra: 'x'.repeat(5_000) }, 1009, /.*/],
    ];
    for (const [message, code, reason] of cases) {
      const client = await Client.open();
      client.send(message);
      const closed = await client.closing();
      expect(closed.code, JSON.stringify(closed)).toBe(code);
      expect(closed.reason).toMatch(reason);
    }
    const healthy = await Client.open();
    healthy.send({ v: 1, type: 'hello' });
    await healthy.next('snapshot');
    healthy.socket.close();
    expect((await fetch(`${stack.url}/api/admin/stats`, { headers: { 'x-admin-key': TEST_ADMIN_KEY } })).status).toBe(
      200,
    );
  });

  it('takes the session cookie from the dashboard origin only', async () => {
    const cookie = sessionCookie(await signInFresh());
    const client = await Client.open({ cookie, origin: stack.url });
    client.send({ v: 1, type: 'hello' });
    await client.next('snapshot');
    client.socket.close();
    expect(await refusedUpgrade({ cookie, origin: 'https://evil.example' })).toBe(403);
  });

  it('sends at most one tick per tick_ms', async () => {
    const client = await Client.open();
    client.send({ v: 1, type: 'hello' });
    await client.next('snapshot');
    const ticks: TickMessage[] = [];
    while (ticks.length < 6) ticks.push(await client.next('tick'));
    // The gateway's own timestamps: however fast changes come, ticks are tick_ms apart or more.
    for (let i = 1; i < ticks.length; i++) {
      expect(Date.parse(ticks[i]!.at) - Date.parse(ticks[i - 1]!.at)).toBeGreaterThanOrEqual(450);
    }
    client.socket.close();
  });
});

/** A sign-in after the limit test above: its failure counters (this stack's Redis prefix) are cleared first. */
async function signInFresh(): Promise<Response> {
  const redis = stack.gateway!.deps.redis;
  const keys = await redis.keys(`${stack.env.REDIS_KEY_PREFIX}login-*`);
  if (keys.length > 0) await redis.del(...keys);
  const response = await eventually(async () => {
    const r = await signIn();
    return r.status === 204 ? r : undefined;
  });
  return response;
}
