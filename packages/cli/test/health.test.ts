import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PrivateNatsServer } from '@ttm/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from './support/closedPort.js';
import { type FakeGateway, startFakeGateway, startReadiness } from './support/fakeGateway.js';
import { runCli } from './support/runCli.js';

let nats: PrivateNatsServer;
let nc: NatsConnection;
let gateway: FakeGateway;
let ready: FakeGateway;
let notReady: FakeGateway;

beforeAll(async () => {
  [nats, gateway, ready, notReady] = await Promise.all([
    PrivateNatsServer.start(),
    startFakeGateway(),
    startReadiness(200),
    startReadiness(503),
  ]);
  nc = await connect({ servers: nats.url });
  // Two instances answer discovery, as NATS micro services do: one reply each to $SRV.PING.
  for (const [name, id] of [
    ['ttm-gateway', 'GW1'],
    ['ttm-provisioner', 'PRV1'],
  ] as const) {
    nc.subscribe('$SRV.PING', {
      callback: (_error, msg) => {
        msg.respond(
          JSON.stringify({ type: 'io.nats.micro.v1.ping_response', name, id, version: '0.1.0', metadata: {} }),
        );
      },
    });
  }
  await nc.flush();
});

afterAll(async () => {
  await nc?.close();
  await Promise.all([nats?.stop(), gateway?.close(), ready?.close(), notReady?.close()]);
});

const urls = (overrides: Record<string, string>) =>
  Object.entries({
    provisioner: ready.url,
    metering: ready.url,
    quota: ready.url,
    backup: ready.url,
    webhooks: ready.url,
    ...overrides,
  })
    .map(([name, url]) => `${name}=${url}`)
    .join(',');

describe('tenant-cli health', () => {
  it('shows NATS discovery answers and readiness, exit 0 when every service is ready', async () => {
    const result = await runCli(['health'], { TTM_URL: gateway.url, NATS_URL: nats.url, TTM_HEALTH_URLS: urls({}) });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]?.split(/\s+/)).toEqual(['SERVICE', 'NATS', 'READY', 'CHECKS']);
    expect(lines[1]).toMatch(/^gateway\s+GW1\/0.1.0\s+200\s+nats ok, postgres ok$/);
    expect(lines[2]).toMatch(/^provisioner\s+PRV1\/0.1.0\s+200/);
    expect(lines[3]).toMatch(/^metering\s+no answer\s+200/);
  });

  it('exits 1 when a service is not ready or unreachable; --json has the detail', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const env = {
      TTM_URL: gateway.url,
      NATS_URL: nats.url,
      TTM_HEALTH_URLS: urls({ quota: notReady.url, backup: down }),
    };

    const table = await runCli(['health'], env);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^quota\s+no answer\s+503\s+nats ok, postgres down$/m);
    expect(table.stdout).toMatch(/^backup\s+no answer\s+unreachable\s+ECONNREFUSED$/m);

    const json = await runCli(['health', '--json'], env);
    expect(json.code).toBe(1);
    const body = JSON.parse(json.stdout) as {
      ready: boolean;
      services: { service: string; ready: { status: unknown } }[];
    };
    expect(body.ready).toBe(false);
    expect(body.services.find((s) => s.service === 'quota')?.ready.status).toBe(503);
  });

  it('still reports readiness when NATS cannot be reached', async () => {
    const result = await runCli(['health', '--nats', `nats://127.0.0.1:${await closedPort()}`], {
      TTM_URL: gateway.url,
      TTM_HEALTH_URLS: urls({}),
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^gateway\s+nats unreachable\s+200/m);
    expect(result.stderr).toMatch(/^tenant-cli: cannot reach NATS at nats:\/\/127.0.0.1:\d+: /);
  });
});
