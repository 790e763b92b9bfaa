/**
 * Is a backing service usable at its configured address? A TCP connect first,
 * then one cheap exchange in its own protocol (PostgreSQL `SELECT 1`, the NATS
 * INFO banner, Redis PING), so "something else listens there" is told apart
 * from "nothing listens there".
 */
import { createConnection, type Socket } from 'node:net';
import pg from 'pg';
import { address, type BackingService, type Endpoint } from './backingServices.js';

export type ProbeResult =
  /** Usable. `note` says something worth knowing (e.g. the database does not exist yet). */
  | { state: 'up'; endpoint: Endpoint; note?: string }
  /** Nothing accepts connections there. */
  | { state: 'down'; reason: string }
  /** Something answers but cannot be used as configured. */
  | { state: 'unusable'; endpoint: Endpoint; reason: string };

const CONNECT_TIMEOUT_MS = 2_000;

function connectTcp({ host, port }: Endpoint, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** Read the first line the server sends (or answers to `send`). */
function firstLine(socket: Socket, send?: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      received += chunk.toString('utf8');
      const end = received.indexOf('\r\n');
      if (end >= 0) finish(undefined, received.slice(0, end));
      else if (received.length > 64 * 1024) finish(undefined, received);
    };
    const onError = (error: Error) => finish(error);
    const onClose = () => finish(new Error('connection closed without an answer'));
    function finish(error?: Error, line?: string) {
      clearTimeout(timer);
      socket.off('data', onData).off('error', onError).off('close', onClose);
      socket.destroy();
      if (error) reject(error);
      else resolve(line ?? '');
    }
    socket.on('data', onData).on('error', onError).on('close', onClose);
    if (send) socket.write(send);
  });
}

const message = (error: unknown): string => {
  if (error instanceof AggregateError && error.errors[0]) return message(error.errors[0]);
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
};

async function probePostgres(service: BackingService, endpoint: Endpoint): Promise<ProbeResult> {
  const query = async (connectionString: string) => {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 3_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  try {
    await query(service.url);
    return { state: 'up', endpoint };
  } catch (error) {
    if ((error as { code?: string }).code === '3D000') {
      // The server is fine; the control-plane database is created by the bootstrap.
      const url = new URL(service.url);
      const name = decodeURIComponent(url.pathname.slice(1));
      url.pathname = '/postgres';
      try {
        await query(url.toString());
        return { state: 'up', endpoint, note: `database "${name}" does not exist yet (the bootstrap creates it)` };
      } catch (inner) {
        return { state: 'unusable', endpoint, reason: message(inner) };
      }
    }
    return { state: 'unusable', endpoint, reason: message(error) };
  }
}

async function probeNats(socket: Socket, endpoint: Endpoint): Promise<ProbeResult> {
  const line = await firstLine(socket).catch((error: unknown) => {
    throw new Error(`it sent no NATS INFO banner: ${message(error)}`);
  });
  if (!line.startsWith('INFO ')) return { state: 'unusable', endpoint, reason: 'it does not speak the NATS protocol' };
  try {
    const info = JSON.parse(line.slice(5)) as { jetstream?: boolean; version?: string };
    if (info.jetstream !== true) {
      return {
        state: 'unusable',
        endpoint,
        reason: `nats-server ${info.version ?? ''} runs without JetStream (start it with -js)`.replace('  ', ' '),
      };
    }
    return { state: 'up', endpoint, note: info.version ? `nats-server ${info.version}` : undefined };
  } catch {
    return { state: 'unusable', endpoint, reason: 'its INFO banner is not JSON' };
  }
}

async function probeRedis(service: BackingService, socket: Socket, endpoint: Endpoint): Promise<ProbeResult> {
  if (service.url.startsWith('rediss:')) {
    socket.destroy();
    return { state: 'up', endpoint, note: 'TLS: checked the TCP connection only' };
  }
  const line = await firstLine(socket, 'PING\r\n').catch((error: unknown) => {
    throw new Error(`no answer to PING: ${message(error)}`);
  });
  // +PONG, or -NOAUTH when a password is required (the services send it from REDIS_URL).
  if (line.startsWith('+PONG') || line.startsWith('-NOAUTH') || line.startsWith('-WRONGPASS')) {
    return { state: 'up', endpoint };
  }
  return { state: 'unusable', endpoint, reason: `it answered PING with "${line.slice(0, 60)}"` };
}

/** Probe every endpoint of a backing service; the first usable one wins. */
export async function probe(service: BackingService): Promise<ProbeResult> {
  let firstProblem: ProbeResult | undefined;
  const refusals: string[] = [];
  for (const endpoint of service.endpoints) {
    let socket: Socket;
    try {
      socket = await connectTcp(endpoint);
    } catch (error) {
      refusals.push(`${address(endpoint)}: ${message(error)}`);
      continue;
    }
    let result: ProbeResult;
    try {
      if (service.kind === 'postgres') {
        socket.destroy();
        result = await probePostgres(service, endpoint);
      } else if (service.kind === 'nats') {
        result = await probeNats(socket, endpoint);
      } else {
        result = await probeRedis(service, socket, endpoint);
      }
    } catch (error) {
      result = { state: 'unusable', endpoint, reason: message(error) };
    }
    if (result.state === 'up') return result;
    firstProblem ??= result;
  }
  return firstProblem ?? { state: 'down', reason: refusals.join('; ') };
}
