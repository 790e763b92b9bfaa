import { randomBytes } from 'node:crypto';
import type { WebSocket } from '@fastify/websocket';
import type { Logger } from '@ttm/service-kit';
import {
  ClientMessage,
  LIVE_PROTOCOL_VERSION,
  LiveCloseCodes,
  type ServerMessage,
  type SnapshotData,
  type TickData,
  type TickMessage,
} from './protocol.js';

/** What the hub streams: the live aggregator. */
export interface TickSource {
  readonly tickMs: number;
  snapshot(): SnapshotData;
  onTick(listener: (tick: TickData) => void): () => void;
}

export interface LiveHubOptions {
  /** Ticks kept for clients that resume (default 1200: 10 minutes at 2 ticks a second). */
  replayTicks?: number;
  /** Unsent bytes a client may have before it is dropped as too slow (default 1 MiB). */
  maxBufferedBytes?: number;
  /** How long a new socket may take to say `hello` before it gets a snapshot anyway. */
  helloWaitMs?: number;
}

/**
 * The live stream's sockets: one tick of the aggregator is serialized once and sent to every
 * client; the last ticks are kept so a client that reconnects to the same process resumes where
 * it was; a client whose unsent data passes `maxBufferedBytes` is closed instead of buffered.
 */
export class LiveHub {
  /** This process's stream: sequences are comparable only within one epoch. */
  readonly epoch = randomBytes(6).toString('hex');
  private seq = 0;
  private readonly replay: { seq: number; text: string }[] = [];
  private readonly clients = new Set<WebSocket>();
  private readonly replayTicks: number;
  private readonly maxBufferedBytes: number;
  private readonly helloWaitMs: number;
  private readonly stopListening: () => void;

  constructor(
    private readonly aggregator: TickSource,
    private readonly logger: Logger,
    options: LiveHubOptions = {},
  ) {
    this.replayTicks = options.replayTicks ?? 1_200;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.helloWaitMs = options.helloWaitMs ?? 2_000;
    this.stopListening = aggregator.onTick((tick) => this.broadcast(tick));
  }

  get size(): number {
    return this.clients.size;
  }

  /** Serve one upgraded socket until it closes. */
  attach(socket: WebSocket): void {
    let started = false;
    const start = (resume?: { epoch: string; seq: number }) => {
      started = true;
      clearTimeout(helloTimer);
      const missed = resume ? this.missedSince(resume) : undefined;
      this.send(socket, this.envelope('welcome', { resumed: missed !== undefined, tick_ms: this.aggregator.tickMs }));
      if (missed) for (const text of missed) this.sendText(socket, text);
      else this.send(socket, this.envelope('snapshot', this.aggregator.snapshot()));
      this.clients.add(socket);
    };
    const helloTimer = setTimeout(() => start(), this.helloWaitMs);
    socket.on('message', (raw, isBinary) => {
      const message = parse(raw, isBinary);
      if (!message.ok) {
        socket.close(message.code, message.reason);
        return;
      }
      if (message.value.type === 'ping') {
        this.send(socket, this.envelope('pong', {}));
        return;
      }
      if (started) {
        socket.close(LiveCloseCodes.policy, 'hello must be the first message');
        return;
      }
      start(message.value.resume);
    });
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.clients.delete(socket);
    });
    socket.on('error', (error) => this.logger.debug({ err: error }, 'live socket error'));
  }

  /** Close every socket (the gateway is stopping): clients reconnect elsewhere and resume or re-sync. */
  close(): void {
    this.stopListening();
    for (const socket of this.clients) socket.close(LiveCloseCodes.goingAway, 'gateway stopping');
    this.clients.clear();
  }

  private broadcast(tick: TickData): void {
    this.seq++;
    const message: TickMessage = {
      v: LIVE_PROTOCOL_VERSION,
      epoch: this.epoch,
      seq: this.seq,
      type: 'tick',
      at: new Date().toISOString(),
      data: tick,
    };
    const text = JSON.stringify(message);
    this.replay.push({ seq: this.seq, text });
    if (this.replay.length > this.replayTicks) this.replay.shift();
    for (const socket of this.clients) this.sendText(socket, text);
  }

  /** The ticks after `seq` if this epoch still holds all of them; undefined when the client must re-sync. */
  private missedSince(resume: { epoch: string; seq: number }): string[] | undefined {
    if (resume.epoch !== this.epoch || resume.seq > this.seq) return undefined;
    if (resume.seq === this.seq) return [];
    const first = this.replay[0];
    if (!first || first.seq > resume.seq + 1) return undefined;
    return this.replay.filter((entry) => entry.seq > resume.seq).map((entry) => entry.text);
  }

  private envelope<T extends ServerMessage['type']>(type: T, data: Extract<ServerMessage, { type: T }>['data']) {
    return { v: LIVE_PROTOCOL_VERSION, epoch: this.epoch, seq: this.seq, type, at: new Date().toISOString(), data };
  }

  private send(socket: WebSocket, message: object): void {
    this.sendText(socket, JSON.stringify(message));
  }

  private sendText(socket: WebSocket, text: string): void {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount + text.length > this.maxBufferedBytes) {
      this.clients.delete(socket);
      this.logger.info({ buffered: socket.bufferedAmount }, 'live client too slow; dropped');
      socket.close(LiveCloseCodes.tooSlow, 'too slow: messages were not read in time');
      // The close frame waits behind what is buffered: do not wait for it.
      setTimeout(() => socket.terminate(), 1_000).unref();
      return;
    }
    socket.send(text);
  }
}

type Parsed = { ok: true; value: ClientMessage } | { ok: false; code: number; reason: string };

/** A client message, or why the socket closes. Pure. */
export function parse(raw: unknown, isBinary: boolean): Parsed {
  if (isBinary) return { ok: false, code: LiveCloseCodes.malformed, reason: 'messages are JSON text' };
  let value: unknown;
  try {
    value = JSON.parse(String(raw));
  } catch {
    return { ok: false, code: LiveCloseCodes.malformed, reason: 'malformed message: not JSON' };
  }
  if (typeof value === 'object' && value !== null && 'v' in value && value.v !== LIVE_PROTOCOL_VERSION) {
    return {
      ok: false,
      code: LiveCloseCodes.policy,
      reason: `unsupported protocol version (this is ${LIVE_PROTOCOL_VERSION})`,
    };
  }
  const parsed = ClientMessage.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    // Close reasons are at most 123 bytes.
    return {
      ok: false,
      code: LiveCloseCodes.malformed,
      reason: `malformed message: ${where}${issue?.message ?? 'invalid'}`.slice(0, 120),
    };
  }
  return { ok: true, value: parsed.data };
}
