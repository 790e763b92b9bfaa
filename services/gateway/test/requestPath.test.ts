import { type ChildProcess, spawn } from 'node:child_process';
import { DeliverPolicy } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  Buckets,
  type QuotaStateEntry,
  QuotaStateKeys,
  Streams,
  Subjects,
  UsageRecordedBatch,
  usageBatchEventId,
} from '@ttm/contracts';
import { freePort, waitForPort } from '@ttm/service-kit/testing';
import type { FastifyPluginAsync, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../../../test/support/http.js';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import type { GatewayDeps } from '../src/deps.js';
import type { Gateway } from '../src/gateway.js';
import { requestPathProblemTypes } from '../src/plugins/requestPath/index.js';
import { USAGE_PRODUCER } from '../src/plugins/requestPath/usageMeter.js';

const PASSWORD = 'correct-Horse-battery-9';
/** free: 20 requests an hour (one every 3 minutes once the burst is spent), so no test sees it refill. */
const FREE_LIMIT = 20;
const FREE_WINDOW_MS = 3_600_000;
const PLANS = [
  {
    name: 'free',
    quotas: { storage_bytes: 1_000_000_000, users: 3, api_calls_per_month: 100_000 },
    rateLimit: { requests: FREE_LIMIT, windowMs: FREE_WINDOW_MS },
  },
  {
    name: 'pro',
    quotas: { storage_bytes: 20_000_000_000, users: 50, api_calls_per_month: 5_000_000 },
    rateLimit: { requests: 100_000, windowMs: 60_000 },
  },
  {
    // Large enough for leases (1 % of the limit: 10 requests taken from Redis at once).
    name: 'enterprise',
    quotas: { storage_bytes: 20_000_000_000, users: 50, api_calls_per_month: 5_000_000 },
    rateLimit: { requests: 1_000, windowMs: FREE_WINDOW_MS },
  },
];

/** Routes in the tenant scope for these tests: a read, a write, and the users-quota route shape. */
const testRoutes: FastifyPluginAsync<GatewayDeps> = async (app) => {
  app.get('/api/tenant/test/read', async (request) => ({ tenant: request.principal!.tenantId }));
  app.post('/api/tenant/test/write', async (_request, reply) => reply.code(201).send({ written: true }));
  app.post('/api/tenant/test/invite', { config: { quotaMeter: 'users' } }, async (_request, reply) =>
    reply.code(201).send({ invited: true }),
  );
};

let stack: TestStack;
let serial = 0;

beforeAll(async () => {
  stack = await startStack({
    // No Redis timeout: a loaded machine must not turn a shared-limit test into a fallback test
    // (the fault tests below set the production timeout themselves).
    env: { PLANS: JSON.stringify(PLANS), USAGE_FLUSH_INTERVAL: '200ms', RATE_LIMIT_REDIS_TIMEOUT: '0' },
    gatewayOptions: { extraTenantRoutes: testRoutes },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

interface Tenant {
  tenantId: string;
  token: string;
}

/** Register an organization, wait until it is active, log its admin in. */
async function newTenant(plan: 'free' | 'pro' | 'enterprise'): Promise<Tenant> {
  const n = ++serial;
  const email = `owner${n}@request-path.test`;
  const { entry, token } = await signUp(stack.gateway!, {
    name: `Request Path ${n}`,
    email,
    password: PASSWORD,
    plan,
  });
  return { tenantId: entry.tenantId, token };
}

function call(gateway: Gateway, tenant: Tenant, method: 'GET' | 'POST', path: 'read' | 'write' | 'invite') {
  return gateway.app.inject({
    method,
    url: `/api/tenant/test/${path}`,
    headers: { authorization: `Bearer ${tenant.token}` },
  });
}

const read = (tenant: Tenant, gateway = stack.gateway!) => call(gateway, tenant, 'GET', 'read');

function problem(response: LightMyRequestResponse): Record<string, unknown> {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json();
}

async function writeQuotaState(
  tenantId: string,
  state: Partial<Record<'api_calls' | 'storage_bytes' | 'users', 'ok' | 'exceeded'>>,
) {
  const kv = await new Kvm(stack.gateway!.deps.nc).open(Buckets.quotaState);
  const now = new Date();
  const meter = (limit: number, level: 'ok' | 'exceeded' = 'ok') => ({
    limit,
    used: level === 'exceeded' ? limit : 0,
    state: level,
  });
  const entry: QuotaStateEntry = {
    api_calls: meter(1_000, state.api_calls),
    storage_bytes: meter(5_000_000, state.storage_bytes),
    users: meter(3, state.users),
    plan: 'pro',
    period: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString(),
    updatedAt: now.toISOString(),
  };
  await kv.put(QuotaStateKeys.state(tenantId), JSON.stringify(entry));
}

describe('rate limit', () => {
  it('answers with the RateLimit-Policy and RateLimit fields of the tenant plan', async () => {
    const tenant = await newTenant('pro');
    const response = await read(tenant);
    expect(response.statusCode).toBe(200);
    expect(response.headers['ratelimit-policy']).toBe('"tenant";q=100000;w=60');
    expect(response.headers.ratelimit).toMatch(/^"tenant";r=99999;t=\d+$/);
  });

  it('is shared by two gateway instances: allowed requests stay within the limit', async () => {
    const tenant = await newTenant('free');
    const second = await stack.startExtraGateway();
    const gateways = [stack.gateway!, second];
    const started = Date.now();
    // Half the burst one by one, alternating (both instances serve), then three times the rest at once.
    const responses: LightMyRequestResponse[] = [];
    const sentTo: Gateway[] = [];
    for (let i = 0; i < FREE_LIMIT / 2; i++) {
      sentTo.push(gateways[i % 2]!);
      responses.push(await read(tenant, gateways[i % 2]!));
    }
    const burst = Array.from({ length: 3 * FREE_LIMIT }, (_, i) => gateways[i % 2]!);
    sentTo.push(...burst);
    responses.push(...(await Promise.all(burst.map((gateway) => read(tenant, gateway)))));
    const elapsed = Date.now() - started;
    const allowed = responses.filter((r) => r.statusCode === 200);
    const limited = responses.filter((r) => r.statusCode === 429);
    expect(allowed.length + limited.length).toBe(responses.length);
    // Stated bound: GCRA in Redis decides every request atomically (a limit this small is never
    // leased), so both instances together allow the burst (the plan's limit) plus what refilled
    // meanwhile (one per window/limit), and nothing more; the local fast path only refuses.
    const refilled = Math.floor(elapsed / (FREE_WINDOW_MS / FREE_LIMIT));
    expect(allowed.length).toBeGreaterThanOrEqual(FREE_LIMIT);
    expect(allowed.length).toBeLessThanOrEqual(FREE_LIMIT + refilled);
    // Both instances served part of the burst and refused part of the rest.
    for (const gateway of gateways) {
      expect(responses.some((r, i) => sentTo[i] === gateway && r.statusCode === 200)).toBe(true);
      expect(responses.some((r, i) => sentTo[i] === gateway && r.statusCode === 429)).toBe(true);
    }

    const refused = limited[0]!;
    const body = problem(refused);
    expect(body).toMatchObject({
      type: requestPathProblemTypes.rateLimited,
      status: 429,
      code: 'TTM_RATE_LIMITED',
      'violated-policies': ['tenant'],
    });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(FREE_WINDOW_MS / FREE_LIMIT / 1_000);
    expect(refused.headers.ratelimit).toBe(`"tenant";r=0;t=${retryAfter}`);
    expect(refused.headers['ratelimit-policy']).toBe(`"tenant";q=${FREE_LIMIT};w=${FREE_WINDOW_MS / 1_000}`);

    // Another tenant is not affected.
    const other = await newTenant('free');
    expect((await read(other, second)).statusCode).toBe(200);
  }, 60_000);

  it('keeps two instances that lease requests in advance within the limit', async () => {
    const tenant = await newTenant('enterprise');
    const second = await stack.startExtraGateway();
    const gateways = [stack.gateway!, second];
    const expired = async () => {
      let sum = 0;
      for (const gateway of gateways) {
        const text = await gateway.deps.metrics.getSingleMetricAsString('gateway_rate_limit_lease_expired_total');
        sum += Number(/ (\d+)$/m.exec(text)?.[1] ?? 0);
      }
      return sum;
    };
    const expiredBefore = await expired();
    const limit = 1_000;
    const lease = 10;
    const started = Date.now();
    let allowed = 0;
    for (let round = 0; round < 15; round++) {
      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) => read(tenant, gateways[(round + i) % 2]!)),
      );
      for (const response of responses) {
        expect([200, 429]).toContain(response.statusCode);
        if (response.statusCode === 200) allowed++;
      }
    }
    const refilled = Math.floor((Date.now() - started) / (FREE_WINDOW_MS / limit));
    // Leased requests are counted in Redis when taken: never more than the limit; at most one
    // lease per instance is left unspent at the end, plus what a lease left idle for a second
    // dropped (counted, so no timing decides the outcome).
    expect(allowed).toBeLessThanOrEqual(limit + refilled);
    expect(allowed).toBeGreaterThanOrEqual(limit - gateways.length * lease - ((await expired()) - expiredBefore));
  }, 60_000);

  describe('with Redis stopped mid-traffic', () => {
    let redis: ChildProcess | undefined;
    let redisPort = 0;

    const startRedis = async () => {
      redis = spawn(
        'redis-server',
        [
          '--port',
          String(redisPort),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--enable-debug-command',
          'yes',
        ],
        {
          stdio: 'ignore',
        },
      );
      await waitForPort(redisPort, 10_000);
    };
    const killRedis = async () => {
      const child = redis;
      redis = undefined;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    };

    beforeAll(async () => {
      redisPort = await freePort();
      await startRedis();
    });

    afterAll(async () => {
      await killRedis();
    });

    it('fails open or closed as configured when Redis is slow or down, never with an error, and recovers', async () => {
      // free: one request per Redis round trip (no leases), so a refusal is never served from one.
      const tenant = await newTenant('free');
      const redisUrl = `redis://127.0.0.1:${redisPort}`;
      const faultEnv = { REDIS_URL: redisUrl, RATE_LIMIT_REDIS_TIMEOUT: '50ms' };
      const open = await stack.startExtraGateway({ ...faultEnv, RATE_LIMIT_FAILURE_MODE: 'open' });
      const closed = await stack.startExtraGateway({ ...faultEnv, RATE_LIMIT_FAILURE_MODE: 'closed' });

      for (const gateway of [open, closed]) {
        const response = await read(tenant, gateway);
        expect(response.statusCode).toBe(200);
        expect(response.headers.ratelimit).toMatch(/^"tenant";r=\d+;t=\d+$/);
      }

      // Slow: Redis busy for a second, longer than RATE_LIMIT_REDIS_TIMEOUT.
      const blocker = new Redis(redisUrl);
      const sleeping = blocker.call('DEBUG', 'SLEEP', '1');
      await new Promise((r) => setTimeout(r, 100));
      const slow = await Promise.all([read(tenant, open), read(tenant, closed)]);
      expect(slow[0].statusCode).toBe(200);
      expect(slow[1].statusCode).toBe(503);
      expect(problem(slow[1]).type).toBe(requestPathProblemTypes.rateLimiterUnavailable);
      await sleeping;
      blocker.disconnect();
      const timeouts = await closed.deps.metrics.getSingleMetricAsString('gateway_rate_limit_redis_failures_total');
      expect(timeouts).toMatch(/gateway_rate_limit_redis_failures_total\{reason="timeout",service="gateway"\} [1-9]/);

      // Down.
      await killRedis();
      const during = await Promise.all(Array.from({ length: 10 }, (_, i) => read(tenant, i % 2 === 0 ? open : closed)));
      for (const [i, response] of during.entries()) {
        if (i % 2 === 0) {
          expect(response.statusCode).toBe(200);
          expect(response.headers.ratelimit).toBeUndefined();
        } else {
          expect(response.statusCode).toBe(503);
          expect(problem(response)).toMatchObject({
            type: requestPathProblemTypes.rateLimiterUnavailable,
            code: 'TTM_RATE_LIMITER_UNAVAILABLE',
          });
          expect(response.headers['retry-after']).toBe('1');
        }
      }
      const failures = await closed.deps.metrics.getSingleMetricAsString('gateway_rate_limit_redis_failures_total');
      expect(failures).toMatch(/gateway_rate_limit_redis_failures_total\{reason="\w+",service="gateway"\} [1-9]/);

      await startRedis();
      await eventually(async () => {
        const response = await read(tenant, closed);
        return response.statusCode === 200 && response.headers.ratelimit ? true : undefined;
      }, 15_000);
    }, 60_000);

    it('falls back to each gateway share of the limit by default: a tenant gets at most its limit', async () => {
      if (!redis) await startRedis();
      const tenant = await newTenant('free');
      // Two gateways on the default mode (local), each told it is one of two.
      const env = {
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        RATE_LIMIT_REDIS_TIMEOUT: '50ms',
        RATE_LIMIT_GATEWAYS: '2',
      };
      const gateways = [await stack.startExtraGateway(env), await stack.startExtraGateway(env)];
      const started = Date.now();
      const first = await Promise.all(gateways.map((gateway) => read(tenant, gateway)));
      for (const response of first) expect(response.statusCode).toBe(200);

      await killRedis();
      const responses: LightMyRequestResponse[] = [];
      for (let i = 0; i < 3 * FREE_LIMIT; i++) responses.push(await read(tenant, gateways[i % 2]!));
      const allowed = first.length + responses.filter((r) => r.statusCode === 200).length;
      const limited = responses.filter((r) => r.statusCode === 429);
      expect(allowed + limited.length).toBe(first.length + responses.length);
      // Stated bound: each gateway allows its share (limit / RATE_LIMIT_GATEWAYS) of what Redis last
      // said was left, plus what refilled; together the plan's limit.
      const refilled = Math.floor((Date.now() - started) / (FREE_WINDOW_MS / FREE_LIMIT));
      expect(allowed).toBeLessThanOrEqual(FREE_LIMIT + refilled);
      expect(allowed).toBeGreaterThanOrEqual(FREE_LIMIT - gateways.length);
      expect(problem(limited[0]!).type).toBe(requestPathProblemTypes.rateLimited);
      expect(limited[0]!.headers['retry-after']).toBeDefined();
      for (const gateway of gateways) {
        const metrics = await gateway.deps.metrics.metrics();
        expect(metrics).toMatch(/^gateway_rate_limit_fallback_active\{service="gateway"\} 1$/m);
        expect(metrics).toMatch(/^gateway_rate_limit_fallback_total\{service="gateway"\} [1-9]/m);
      }

      // Redis back: the shared limit decides again and the gauge drops.
      await startRedis();
      await eventually(async () => {
        const response = await read(tenant, gateways[0]!);
        return response.headers.ratelimit && response.statusCode === 200 ? true : undefined;
      }, 15_000);
      expect(await gateways[0]!.deps.metrics.getSingleMetricAsString('gateway_rate_limit_fallback_active')).toMatch(
        / 0$/m,
      );
    }, 60_000);
  });
});

describe('quotas', () => {
  it('refuses every call over the api_calls quota with a quota problem, and serves again once cleared', async () => {
    const tenant = await newTenant('pro');
    expect((await read(tenant)).statusCode).toBe(200);

    await writeQuotaState(tenant.tenantId, { api_calls: 'exceeded' });
    const refused = await eventually(async () => {
      const response = await read(tenant);
      return response.statusCode === 429 ? response : undefined;
    });
    expect(problem(refused)).toMatchObject({
      type: requestPathProblemTypes.apiCallQuotaExceeded,
      status: 429,
      code: 'TTM_API_CALL_QUOTA_EXCEEDED',
      meter: 'api_calls',
      limit: 1_000,
    });
    // The state's 1,000, plus the call that may have been in flight (past the gate, waiting for
    // the rate limiter) when the state arrived: counted after it, as the README's overshoot says.
    expect([1_000, 1_001]).toContain(problem(refused).used);
    expect(problem(refused).type).not.toBe(requestPathProblemTypes.rateLimited);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect((await call(stack.gateway!, tenant, 'POST', 'write')).statusCode).toBe(429);

    // An override lifts the limit: the quota service writes the state back to ok.
    await writeQuotaState(tenant.tenantId, {});
    await eventually(async () => ((await read(tenant)).statusCode === 200 ? true : undefined));
  });

  it('over storage_bytes refuses writes and still serves reads', async () => {
    const tenant = await newTenant('pro');
    await writeQuotaState(tenant.tenantId, { storage_bytes: 'exceeded' });
    const refused = await eventually(async () => {
      const response = await call(stack.gateway!, tenant, 'POST', 'write');
      return response.statusCode === 403 ? response : undefined;
    });
    expect(problem(refused)).toMatchObject({
      type: requestPathProblemTypes.storageQuotaExceeded,
      code: 'TTM_STORAGE_QUOTA_EXCEEDED',
      meter: 'storage_bytes',
      limit: 5_000_000,
    });
    expect((await read(tenant)).statusCode).toBe(200);
    const me = await stack.gateway!.app.inject({
      method: 'GET',
      url: '/api/tenant/me',
      headers: { authorization: `Bearer ${tenant.token}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.headers.ratelimit).toMatch(/^"tenant";r=\d+;t=\d+$/);
    expect((await call(stack.gateway!, tenant, 'POST', 'invite')).statusCode).toBe(403);
  });

  it('over users refuses only the routes marked with quotaMeter users', async () => {
    const tenant = await newTenant('pro');
    await writeQuotaState(tenant.tenantId, { users: 'exceeded' });
    const refused = await eventually(async () => {
      const response = await call(stack.gateway!, tenant, 'POST', 'invite');
      return response.statusCode === 403 ? response : undefined;
    });
    expect(problem(refused)).toMatchObject({
      type: requestPathProblemTypes.userQuotaExceeded,
      code: 'TTM_USER_QUOTA_EXCEEDED',
      meter: 'users',
      limit: 3,
    });
    expect((await call(stack.gateway!, tenant, 'POST', 'write')).statusCode).toBe(201);
    expect((await read(tenant)).statusCode).toBe(200);
  });
});

describe('api_calls metering', () => {
  /** Every api_calls usage record of the tenant on the USAGE stream, with the id of the message that carried it. */
  async function usageOf(tenantId: string) {
    const js = stack.gateway!.deps.js;
    const consumer = await js.consumers.get(Streams.USAGE, { deliver_policy: DeliverPolicy.All });
    const pending = (await consumer.info(true)).num_pending;
    const found: { value: number; dedupKey: string; batchKey: string; id: string; msgId: string }[] = [];
    if (pending === 0) return found;
    const batch = await consumer.fetch({ max_messages: pending, expires: 2_000 });
    let seen = 0;
    for await (const message of batch) {
      seen++;
      if (message.subject === Subjects.usageBatch(USAGE_PRODUCER, 'api_calls')) {
        expect(message.headers?.get('ce-type')).toBe(UsageRecordedBatch.type);
        const data = UsageRecordedBatch.schema.parse(message.json());
        expect(data).toMatchObject({ meter: 'api_calls', kind: 'count' });
        for (const record of data.records) {
          if (record.tenantId !== tenantId) continue;
          found.push({
            value: record.value,
            dedupKey: record.dedupKey,
            batchKey: data.batchKey,
            id: message.headers?.get('ce-id') ?? '',
            msgId: message.headers?.get('Nats-Msg-Id') ?? '',
          });
        }
      }
      if (seen >= pending) break;
    }
    return found;
  }

  it('publishes what is counted when the gateway stops', async () => {
    const tenant = await newTenant('pro');
    // No periodic flush within the test: only the one at shutdown publishes.
    const gateway = await stack.startExtraGateway({ USAGE_FLUSH_INTERVAL: '1h' });
    for (let i = 0; i < 5; i++) expect((await read(tenant, gateway)).statusCode).toBe(200);
    await gateway.stop();
    const messages = await usageOf(tenant.tenantId);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.value).toBe(5);
  }, 60_000);

  it('publishes allowed calls in batches with the right counts and no duplicates, across a NATS outage', async () => {
    const tenant = await newTenant('pro');
    const second = await stack.startExtraGateway();
    const gateways = [stack.gateway!, second];
    const calls = 30;
    const responses = await Promise.all(Array.from({ length: calls }, (_, i) => read(tenant, gateways[i % 2]!)));
    expect(responses.every((r) => r.statusCode === 200)).toBe(true);

    const sum = (messages: { value: number }[]) => messages.reduce((total, m) => total + m.value, 0);
    const first = await eventually(async () => {
      const messages = await usageOf(tenant.tenantId);
      return sum(messages) === calls ? messages : undefined;
    });
    // Batches, not a message per call.
    expect(first.length).toBeLessThan(calls);
    for (const message of first) {
      expect(message.dedupKey).toMatch(/^gw-[\x21-\x7e]+:\d+$/);
      expect(message.batchKey).toMatch(new RegExp(`^${message.dedupKey}:\\d+$`));
      expect(message.id).toBe(usageBatchEventId(USAGE_PRODUCER, 'api_calls', message.batchKey));
      expect(message.msgId).toBe(message.id);
    }

    // NATS down: calls are still served and counted; their usage is published once NATS is back.
    await stack.nats.kill();
    const during = 12;
    for (let i = 0; i < during; i++) expect((await read(tenant, gateways[i % 2]!)).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    await stack.nats.restart();

    const all = await eventually(async () => {
      const messages = await usageOf(tenant.tenantId);
      return sum(messages) >= calls + during ? messages : undefined;
    }, 30_000);
    expect(sum(all)).toBe(calls + during);
    expect(new Set(all.map((m) => m.dedupKey)).size).toBe(all.length);
  }, 60_000);
});
