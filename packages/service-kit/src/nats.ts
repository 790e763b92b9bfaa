import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logger.js';
import { inboxPrefixOf } from './natsAuthorization.js';

export type { NatsConnection };

export interface NatsLink {
  nc: NatsConnection;
  /** True while connected; flips false on disconnect and back on reconnect. */
  isConnected(): boolean;
}

export interface NatsLinkOptions {
  /** How often the client pings the server; a silent server is declared stale after `maxPingOut` missed pongs. */
  pingIntervalMs?: number;
  maxPingOut?: number;
  /** Pause between reconnect attempts. */
  reconnectTimeWaitMs?: number;
  /** User and password, and TLS files, from `natsSecurityOf(config)`. */
  security?: NatsSecurity;
  /** Called on each lost connection (readiness is false until the client reconnected). */
  onDisconnect?: () => void;
}

export interface NatsSecurity {
  user?: string | undefined;
  pass?: string | undefined;
  tls?: { caFile?: string; certFile?: string; keyFile?: string } | undefined;
  /** `_INBOX_<user>`: a locked-down server lets each user receive only on its own prefix. */
  inboxPrefix?: string | undefined;
}

/** The NATS credentials and TLS files of a service's configuration (none set: anonymous, plain). */
export function natsSecurityOf(config: {
  NATS_USER?: string | undefined;
  NATS_PASSWORD?: string | undefined;
  NATS_TLS_CA?: string | undefined;
  NATS_TLS_CERT?: string | undefined;
  NATS_TLS_KEY?: string | undefined;
}): NatsSecurity {
  const tls = {
    ...(config.NATS_TLS_CA ? { caFile: config.NATS_TLS_CA } : {}),
    ...(config.NATS_TLS_CERT ? { certFile: config.NATS_TLS_CERT } : {}),
    ...(config.NATS_TLS_KEY ? { keyFile: config.NATS_TLS_KEY } : {}),
  };
  return {
    ...(config.NATS_USER
      ? { user: config.NATS_USER, pass: config.NATS_PASSWORD ?? '', inboxPrefix: inboxPrefixOf(config.NATS_USER) }
      : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

/**
 * Connect with unlimited reconnects (a control plane must ride out a NATS restart)
 * and track the connection state for readiness.
 */
export async function connectNats(
  servers: string,
  name: string,
  logger: Logger,
  options: NatsLinkOptions = {},
): Promise<NatsLink> {
  const nc = await connect({
    servers: servers.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 500,
    pingInterval: options.pingIntervalMs ?? 5_000,
    maxPingOut: options.maxPingOut ?? 2,
    ...options.security,
  });
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        connected = false;
        options.onDisconnect?.();
        logger.warn({ server: status.server }, 'NATS disconnected');
      } else if (status.type === 'reconnect') {
        connected = true;
        logger.info({ server: status.server }, 'NATS reconnected');
      } else if (status.type === 'error') {
        logger.warn({ err: status.error }, 'NATS error');
      }
    }
  })();
  void nc.closed().then(() => {
    connected = false;
  });
  return { nc, isConnected: () => connected && !nc.isClosed() };
}

const TRANSIENT_NATS_ERRORS = new Set(['TimeoutError', 'NoRespondersError', 'JetStreamNotEnabled', 'ConnectionError']);
const TRANSIENT_NATS_MESSAGES =
  /no responders|jetstream is not enabled|timeout|connection (closed|draining)|disconnect/i;

/**
 * NATS or JetStream is away for a moment: a node went down and the client reconnects, or a
 * clustered stream or KV bucket elects a new leader (the API answers "no responders" or
 * "jetstream is not enabled" meanwhile). Worth retrying later, not a reason to give up.
 */
export function isTransientNatsError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return TRANSIENT_NATS_ERRORS.has(error.name) || TRANSIENT_NATS_MESSAGES.test(error.message);
}

/**
 * The inbox prefix this connection was opened with (`_INBOX` unless set): code that makes its own
 * inbox must use it, or a locked-down server never delivers there.
 */
export function inboxPrefixOfConnection(nc: NatsConnection): string | undefined {
  const options = (nc as { options?: { inboxPrefix?: string } }).options;
  return options?.inboxPrefix;
}
