import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: the Standard Webhooks headers and the raw body. */
export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** What the receiver answered: a status, or `hang` (never answered). */
  answer: number | 'hang';
  at: number;
}

export type Behaviour = (request: Received, index: number) => number | 'hang';

/**
 * A webhook receiver on a loopback port for tests: records every request and answers as
 * `behaviour` says (a status code, or hang until the sender gives up). It can go down and come
 * back on the same port.
 */
export class Receiver {
  readonly requests: Received[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private server: Server | undefined;
  port = 0;

  constructor(public behaviour: Behaviour = () => 204) {}

  static async start(behaviour?: Behaviour): Promise<Receiver> {
    const receiver = new Receiver(behaviour);
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Requests still waiting for an answer. */
  get hangingCount(): number {
    return this.hanging.size;
  }

  /** Successful deliveries (answered 2xx), in arrival order. */
  get accepted(): Received[] {
    return this.requests.filter((r) => typeof r.answer === 'number' && r.answer < 300);
  }

  async up(): Promise<void> {
    const server = createServer((request, response) => this.handle(request, response));
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and drop every connection: senders get connection refused. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const header = (name: string) => String(request.headers[name] ?? '');
      const received: Received = {
        id: header('webhook-id'),
        timestamp: header('webhook-timestamp'),
        signature: header('webhook-signature'),
        body: Buffer.concat(chunks).toString('utf8'),
        answer: 204,
        at: Date.now(),
      };
      received.answer = this.behaviour(received, this.requests.length);
      this.requests.push(received);
      if (received.answer === 'hang') {
        this.hanging.add(response);
        response.on('close', () => this.hanging.delete(response));
        return;
      }
      response.statusCode = received.answer;
      response.end();
    });
  }
}

/** The parsed Standard Webhooks payload of a received request. */
export function payloadOf(received: Received): { type: string; timestamp: string; data: Record<string, unknown> } {
  return JSON.parse(received.body) as { type: string; timestamp: string; data: Record<string, unknown> };
}
