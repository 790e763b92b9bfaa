import type {
  LiveOperation,
  LiveUpgrade,
  Overview,
  Sample,
  ServerMessage,
  TenantSummary,
} from '../../src/features/dashboard/protocol.js';

export type { LiveOperation, LiveUpgrade, Overview, Sample, TenantSummary };
export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

export interface LiveState {
  overview: Overview | null;
  operations: Map<string, LiveOperation>;
  history: Sample[];
  connection: ConnectionState;
  /** Last message applied, for resuming. */
  epoch: string | null;
  seq: number;
  /** Times the socket (re)connected; the page never reloads for it. */
  connections: number;
}

/**
 * Called on every change: tenants and fleet upgrades that changed, and whether lists must be read
 * again (a snapshot, i.e. a new connection, or more changes than a tick carries).
 */
type Listener = (
  state: LiveState,
  changedTenants: TenantSummary[],
  reloadTenants: boolean,
  changedUpgrades: LiveUpgrade[],
) => void;

const MAX_BACKOFF_MS = 4_000;

/**
 * The live stream, kept open: reconnects with backoff and resumes from the last sequence it
 * applied (the same gateway process replays what was missed; another one sends a snapshot).
 */
export class LiveClient {
  readonly state: LiveState = {
    overview: null,
    operations: new Map(),
    history: [],
    connection: 'connecting',
    epoch: null,
    seq: 0,
    connections: 0,
  };
  private readonly listeners = new Set<Listener>();
  private socket: WebSocket | undefined;
  private attempt = 0;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly onUnauthorized: () => Promise<boolean>) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    listener(this.state, [], false, []);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.close(1000, 'signed out');
  }

  private open(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/admin/live`;
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.addEventListener('open', () => {
      opened = true;
      const resume = this.state.epoch ? { epoch: this.state.epoch, seq: this.state.seq } : undefined;
      socket.send(JSON.stringify({ v: 1, type: 'hello', ...(resume ? { resume } : {}) }));
    });
    socket.addEventListener('message', (event) => this.receive(JSON.parse(String(event.data)) as ServerMessage));
    socket.addEventListener('close', () => {
      if (this.socket !== socket || this.stopped) return;
      this.setConnection('reconnecting');
      if (opened) this.attempt = 0;
      const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt++);
      this.retryTimer = setTimeout(() => {
        // A refused upgrade (401) looks like any failed connection: ask whether the session is gone.
        if (opened) this.open();
        else
          void this.onUnauthorized().then((signedIn) => {
            if (signedIn && !this.stopped) this.open();
          });
      }, delay);
    });
  }

  private receive(message: ServerMessage): void {
    switch (message.type) {
      case 'welcome':
        this.state.connections++;
        if (this.state.epoch !== message.epoch) this.state.seq = message.seq;
        this.state.epoch = message.epoch;
        this.setConnection('live');
        return;
      case 'snapshot':
        this.state.epoch = message.epoch;
        this.state.seq = message.seq;
        this.state.overview = message.data.overview;
        this.state.history = message.data.history;
        this.state.operations = new Map(message.data.operations.map((operation) => [operation.id, operation]));
        this.emit([], true);
        return;
      case 'tick': {
        if (message.seq <= this.state.seq && message.epoch === this.state.epoch) return;
        this.state.epoch = message.epoch;
        this.state.seq = message.seq;
        const data = message.data;
        this.state.overview = data.overview;
        for (const operation of data.operations) this.state.operations.set(operation.id, operation);
        if (data.sample) {
          this.state.history.push(data.sample);
          const hourAgo = Date.now() - 3_600_000;
          while (this.state.history.length > 0 && Date.parse(this.state.history[0]!.at) < hourAgo) {
            this.state.history.shift();
          }
        }
        this.emit(data.tenants, data.tenants_truncated, data.upgrades ?? []);
        return;
      }
      case 'pong':
        return;
    }
  }

  private setConnection(connection: ConnectionState): void {
    this.state.connection = connection;
    this.emit([], false);
  }

  private emit(tenants: TenantSummary[], reload: boolean, upgrades: LiveUpgrade[] = []): void {
    for (const listener of this.listeners) listener(this.state, tenants, reload, upgrades);
  }
}
