import { connect, type NatsConnection } from '@nats-io/transport-node';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthChecks, opsRoutes } from '../src/health.js';
import { connectNats, type NatsLink } from '../src/nats.js';
import { type NatsServiceHandle, registerNatsService } from '../src/natsService.js';
import { PrivateNatsServer } from '../src/testing/natsServer.js';

const logger = pino({ level: 'silent' });

let server: PrivateNatsServer;
let link: NatsLink;
let app: FastifyInstance;

beforeAll(async () => {
  server = await PrivateNatsServer.start();
  // A short ping and reconnect wait, so a dead server is noticed and a restarted one rejoined within a test.
  link = await connectNats(server.url, 'readiness-test', logger, {
    pingIntervalMs: 500,
    maxPingOut: 2,
    reconnectTimeWaitMs: 100,
  });
  const health = new HealthChecks().add('nats', () => link.isConnected());
  app = Fastify({ logger: false });
  await app.register(opsRoutes, { service: 'probe', health, metrics: new Registry() });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await link?.nc.close();
  await server?.stop();
});

async function readyStatus(): Promise<number> {
  const response = await app.inject({ method: 'GET', url: '/health/ready' });
  return response.statusCode;
}

/** Poll until `probe` returns `want`, or fail with the last value seen. */
async function until<T>(probe: () => Promise<T>, want: T, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (last !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await probe();
  }
  expect(last).toBe(want);
}

describe('/health/ready follows the NATS connection', () => {
  it('is ready, not ready while NATS is down, and ready again after it returns', async () => {
    expect(await readyStatus()).toBe(200);

    await server.kill();
    await until(readyStatus, 503);
    const body = (await app.inject({ method: 'GET', url: '/health/ready' })).json();
    expect(body).toMatchObject({ status: 'not ready', checks: { nats: 'down' } });

    await server.restart();
    await until(readyStatus, 200);
  });
});

describe('registerNatsService', () => {
  let handle: NatsServiceHandle;
  let client: NatsConnection;

  beforeAll(async () => {
    handle = await registerNatsService(link.nc, { service: 'probe', version: '1.2.3', description: 'readiness probe' });
    client = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await handle?.stop();
    await client?.close();
  });

  it('answers $SRV.PING and $SRV.INFO under ttm-<service>', async () => {
    const ping = (await client.request('$SRV.PING.ttm-probe', undefined, { timeout: 2_000 })).json();
    expect(ping).toMatchObject({ type: 'io.nats.micro.v1.ping_response', name: 'ttm-probe', id: handle.id });

    const info = (await client.request('$SRV.INFO.ttm-probe', undefined, { timeout: 2_000 })).json();
    expect(info).toMatchObject({
      type: 'io.nats.micro.v1.info_response',
      name: 'ttm-probe',
      id: handle.id,
      version: '1.2.3',
      description: 'readiness probe',
    });

    const stats = (await client.request(`$SRV.STATS.ttm-probe.${handle.id}`, undefined, { timeout: 2_000 })).json();
    expect(stats).toMatchObject({ type: 'io.nats.micro.v1.stats_response', name: 'ttm-probe' });
  });

  it('is found again after NATS restarts', async () => {
    await server.kill();
    await server.restart();
    await until(async () => link.isConnected() && !client.isClosed(), true);
    await until(async () => {
      try {
        const ping = (await client.request('$SRV.PING.ttm-probe', undefined, { timeout: 500 })).json<{ id: string }>();
        return ping.id;
      } catch {
        return undefined;
      }
    }, handle.id);
  });

  it('rejects a version that is not semver, naming the service', async () => {
    await expect(
      registerNatsService(link.nc, { service: 'probe', version: 'latest', description: 'bad version' }),
    ).rejects.toThrow(/ttm-probe.*"latest".*semver/);
  });

  it('stops answering once stopped', async () => {
    const other = await registerNatsService(link.nc, { service: 'short-lived', version: '0.1.0', description: 'x' });
    await other.stop();
    await expect(client.request('$SRV.PING.ttm-short-lived', undefined, { timeout: 1_000 })).rejects.toThrow();
  });
});
