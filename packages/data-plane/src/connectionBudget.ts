import type { ConnectionBudgetSnapshot } from '@ttm/service-kit';

/**
 * No free connection of the budget came within the wait limit. Transient by nature (a request
 * or a saga step may try again shortly): the gateway answers 503 with Retry-After, a saga
 * step backs off and retries.
 */
export class ConnectionBudgetExhausted extends Error {
  readonly transient = true;
  readonly code = 'TTM_CONNECTION_BUDGET_EXHAUSTED';

  constructor(
    readonly server: string,
    readonly budget: number,
    readonly waitedMs: number,
    /** Whole seconds a client should wait before trying again. */
    readonly retryAfterSeconds: number,
  ) {
    super(
      `all ${budget} data-plane connections this process may hold on ${server} stayed busy for ${waitedMs} ms; ` +
        'retry shortly, or raise DATA_PLANE_CONNECTION_BUDGET / put PgBouncer in front (README, Connections)',
    );
    this.name = 'ConnectionBudgetExhausted';
  }
}

/**
 * This process's connections to one PostgreSQL server (every database on it together):
 * at most `limit` checked out at once (permits, handed out in arrival order, each wait bounded),
 * and at most `limit` open, counting idle ones and those still closing.
 *
 * Open connections are counted from pg-pool's own events: `connect` once a session exists,
 * `remove` once its socket closed, which is after PostgreSQL dropped it from pg_stat_activity.
 */
export class ServerBudget {
  private inUse = 0;
  private established = 0;
  /** New sessions asked for and not established yet. */
  private connecting = 0;
  private readonly waiting: { grant: () => void; timer: NodeJS.Timeout }[] = [];
  private readonly closedOne: (() => void)[] = [];
  private timedOut = 0;
  /** Checkouts waiting in a full pool's own line, and those it served (they hold no permit). */
  private inPoolLines = 0;
  private servedInLine = 0;

  constructor(
    readonly server: string,
    readonly limit: number,
    private readonly waitLimitMs: number,
  ) {}

  /** Sessions checked out now: with a permit, or handed over in a full pool's own line. */
  get checkedOut(): number {
    return this.inUse + this.servedInLine;
  }

  /** Checkouts waiting right now: for a permit, or in a full pool's own line. */
  get waiters(): number {
    return this.waiting.length + this.inPoolLines;
  }

  /** Checkouts that gave up waiting (`ConnectionBudgetExhausted`) since the process started. */
  get acquireTimeouts(): number {
    return this.timedOut;
  }

  /** What the `ttm_data_plane_*` gauges show of this server. */
  snapshot(): ConnectionBudgetSnapshot {
    return {
      server: this.server,
      budget: this.limit,
      held: this.open,
      checkedOut: this.checkedOut,
      waiters: this.waiters,
      acquireTimeouts: this.timedOut,
    };
  }

  /** Sessions open or opening on the server right now. */
  get open(): number {
    return this.established + this.connecting;
  }

  get hasRoom(): boolean {
    return this.open < this.limit;
  }

  /** Take a permit, waiting in line at most the wait limit. */
  acquire(): Promise<void> {
    if (this.inUse < this.limit && this.waiting.length === 0) {
      this.inUse++;
      return Promise.resolve();
    }
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          clearTimeout(entry.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const at = this.waiting.indexOf(entry);
          if (at >= 0) this.waiting.splice(at, 1);
          this.timedOut++;
          const waited = Date.now() - started;
          reject(
            new ConnectionBudgetExhausted(
              this.server,
              this.limit,
              waited,
              Math.max(1, Math.ceil(this.waitLimitMs / 1000)),
            ),
          );
        }, this.waitLimitMs),
      };
      this.waiting.push(entry);
    });
  }

  /**
   * A checkout starts waiting in a full pool's own line (it takes no permit: it opens nothing).
   * Call the returned function once when it got its session (`served`) or gave up.
   */
  queueInPool(): (served: boolean) => void {
    this.inPoolLines++;
    let done = false;
    return (served) => {
      if (done) return;
      done = true;
      this.inPoolLines--;
      if (served) this.servedInLine++;
    };
  }

  /** A session handed over in a pool's own line came back. */
  returnedToPool(): void {
    this.servedInLine = Math.max(0, this.servedInLine - 1);
  }

  /** A checkout that gave up before it asked for a permit (its pool stayed busy). */
  countTimeout(): void {
    this.timedOut++;
  }

  release(): void {
    const next = this.waiting.shift();
    // The permit passes straight to the next in line.
    if (next) next.grant();
    else this.inUse--;
  }

  /** A new session is being opened (call `opened` or `failedToOpen` after). */
  opening(): void {
    this.connecting++;
  }

  doneOpening(): void {
    this.connecting--;
  }

  /** pg-pool `connect`: a session exists. */
  sessionOpened(): void {
    this.established++;
  }

  /** pg-pool `remove`: a session is gone. */
  sessionClosed(): void {
    this.established--;
    for (const wake of this.closedOne.splice(0)) wake();
  }

  /** Resolves when a session closes, or after `maxMs` (the caller looks again either way). */
  nextClose(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, maxMs);
      this.closedOne.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * This process's connection limit per server: its share of the deployment-wide budget, which is
 * `budgetPercent` % of the server's max_connections, or an explicit `cap`, whichever is lower.
 * Never below 1, so a process can always work.
 */
export function processLimit(input: {
  maxConnections: number;
  budgetPercent?: number;
  share?: number;
  cap?: number;
}): number {
  const fromBudget =
    input.budgetPercent === undefined || input.share === undefined
      ? Number.POSITIVE_INFINITY
      : Math.floor((input.maxConnections * input.budgetPercent * input.share) / 10_000);
  return Math.max(1, Math.min(fromBudget, input.cap ?? Number.POSITIVE_INFINITY));
}
