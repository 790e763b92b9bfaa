import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createLogger } from '@ttm/service-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { eventually } from '../../../test/support/stack.js';
import { LiveHub, type TickSource } from '../src/features/dashboard/hub.js';
import type { Overview, SnapshotData, TickData } from '../src/features/dashboard/protocol.js';

const overview: Overview = {
  tenants: { total: 0, by_status: {}, by_plan: {}, by_region: {} },
  registrations_per_min: 0,
  provisioning_queue: 0,
  requests: { rate: 0, top: [] },
  limits: { rate_limited: 0, quota_refusals: 0, quota_warnings: 0, quota_exceeded: 0 },
  alerts: [],
  projection_lag: {},
  dead_letters: 0,
  audit: [],
};

/** Ticks on demand, each about 64 KiB. */
class ManualTicks implements TickSource {
  readonly tickMs = 500;
  private listener: ((tick: TickData) => void) | undefined;
  snapshot(): SnapshotData {
    return { overview, operations: [], history: [] };
  }
  onTick(listener: (tick: TickData) => void): () => void {
    this.listener = listener;
    return () => {
      this.listener = undefined;
    };
  }
  tick(): void {
    const audit = Array.from({ length: 400 }, (_, i) => ({
      id: `${i}`.padEnd(36, 'x'),
      time: new Date().toISOString(),
      actor: 'admin:someone',
      action: 'padding',
      scope: 'system',
      target: null,
      outcome: 'success' as const,
    }));
    this.listener?.({
      overview: { ...overview, audit },
      operations: [],
      tenants: [],
      tenants_truncated: false,
      upgrades: [],
      sample: null,
    });
  }
}

const ticks = new ManualTicks();
const hub = new LiveHub(ticks, createLogger('hub-test', 'silent'), { maxBufferedBytes: 256 * 1024, helloWaitMs: 0 });
const server = createServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (socket) => hub.attach(socket));
let url = '';

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  hub.close();
  wss.close();
  server.close();
});

it('drops a client that does not read instead of buffering for it, and keeps serving the others', async () => {
  const slow = new WebSocket(url);
  const reader = new WebSocket(url);
  await Promise.all([once(slow, 'open'), once(reader, 'open')]);
  await eventually(() => (hub.size === 2 ? true : undefined));
  // The slow client stops reading: the kernel buffers fill, then the gateway's.
  (slow as unknown as { _socket: Socket })._socket.pause();
  let received = 0;
  reader.on('message', () => received++);
  await eventually(() => {
    ticks.tick();
    return hub.size === 1 ? true : undefined;
  }, 20_000);
  const before = received;
  ticks.tick();
  await eventually(() => (received > before ? true : undefined));
  expect(hub.size).toBe(1);
  reader.close();
  slow.terminate();
});
