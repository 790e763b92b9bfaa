import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  type ConsumerDefinition,
  type EncodedMessage,
  encodeMessage,
  type StreamName,
  streamDefinitions,
  TenantSuspended,
} from '@ttm/contracts';
import { pino } from 'pino';
import { consumerConfigFor, streamConfigFor, type TopologySettings } from '../../src/bootstrap.js';
import { PrivateNatsServer } from '../../src/testing/natsServer.js';

export const silentLogger = pino({ level: 'silent' });

const settings: TopologySettings = {
  replicas: 1,
  usageMaxAgeMs: 3_600_000,
  deadLetterMaxAgeMs: 3_600_000,
  maxBytes: -1,
};

export interface TestJetStream {
  server: PrivateNatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  close(): Promise<void>;
}

/** A private nats-server holding the named streams, configured as in production. */
export async function startJetStream(streams: StreamName[]): Promise<TestJetStream> {
  const server = await PrivateNatsServer.start();
  try {
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    for (const def of streamDefinitions.filter((d) => streams.includes(d.name))) {
      await jsm.streams.add({ ...streamConfigFor(def, settings), name: def.name });
    }
    return {
      server,
      nc,
      js: jetstream(nc),
      jsm,
      async close() {
        await nc.close();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export async function addConsumer(jsm: JetStreamManager, def: ConsumerDefinition): Promise<void> {
  await jsm.consumers.add(def.stream, consumerConfigFor(def));
}

/** A valid event to append: `ttm.tenant.suspended.v1` with the given reason. */
export function suspension(tenantId: string, reason: string): EncodedMessage {
  return encodeMessage(
    TenantSuspended,
    { tenantId, reason, actor: { kind: 'system', id: 'test' }, suspendedAt: new Date().toISOString() },
    { source: '/ttm/test', subject: tenantId },
  );
}

/** Poll until `check` holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every message on a subject of a stream, with headers, by direct get (streams allow it). */
export async function messagesOn(jsm: JetStreamManager, stream: string, subject: string) {
  const info = await jsm.streams.info(stream);
  const found: { seq: number; subject: string; headers: Record<string, string>; data: string }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!msg || msg.subject !== subject) continue;
    const headers: Record<string, string> = {};
    for (const [name, values] of msg.header) headers[name] = values.join(',');
    found.push({ seq: msg.seq, subject: msg.subject, headers, data: new TextDecoder().decode(msg.data) });
  }
  return found;
}
