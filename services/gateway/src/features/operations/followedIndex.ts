import { EventEmitter } from 'node:events';
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { Streams } from '@ttm/contracts';
import { decodeReceived, type Logger } from '@ttm/service-kit';

/**
 * An in-memory fold of some EVENTS subjects (every stored event, then each new one), read with
 * an ephemeral ordered consumer: the gateway's backup and migration indexes. Subclasses `apply`
 * an event and emit `change` with what changed. `ready` resolves once the events stored at start
 * are applied (or following failed: routes then answer from what is known rather than hang).
 */
export abstract class FollowedIndex<Change> extends EventEmitter<{ change: [Change] }> {
  private readonly stopping = new AbortController();
  private markReady: () => void = () => undefined;
  readonly ready = new Promise<void>((resolve) => {
    this.markReady = resolve;
  });
  private following: Promise<void> | undefined;

  protected constructor(
    /** The EVENTS subject filter it folds, e.g. `evt.backup.>`. */
    private readonly filter: string,
    /** What it is called in log lines, e.g. `backup index`. */
    private readonly label: string,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Apply one decoded event. */
  abstract apply(event: { type: string; data: unknown }): void;

  /**
   * Once the index is ready: `read()` as soon as `found` holds for it (checked now, then after
   * each change), or whatever it is after `timeoutMs` or when `signal` aborts.
   */
  protected async readWhen<T>(
    read: () => T,
    found: (value: T) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<T> {
    await this.ready;
    if (found(read()) || timeoutMs <= 0 || signal?.aborted) return read();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('change', listener);
        signal?.removeEventListener('abort', done);
        resolve(read());
      };
      const listener = () => {
        if (found(read())) done();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.on('change', listener);
    });
  }

  start(js: JetStreamClient, logger: Logger): void {
    this.following ??= this.follow(js, logger).catch((error: unknown) => {
      this.markReady();
      logger.error({ err: error }, `${this.label} stopped following events`);
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.following;
  }

  private async follow(js: JetStreamClient, logger: Logger): Promise<void> {
    const consumer = await js.consumers.get(Streams.EVENTS, {
      filter_subjects: this.filter,
      deliver_policy: DeliverPolicy.All,
    });
    if ((await consumer.info(true)).num_pending === 0) this.markReady();
    const messages = await consumer.consume();
    const stop = () => void messages.close();
    this.stopping.signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const msg of messages) {
        try {
          const event = decodeReceived(msg, { kind: 'event' });
          this.apply({ type: event.meta.type, data: event.data });
        } catch (error) {
          logger.warn({ seq: msg.seq, err: error }, `${this.label} skipped an event it cannot read`);
        }
        if (msg.info.pending === 0) this.markReady();
      }
    } finally {
      this.stopping.signal.removeEventListener('abort', stop);
      this.markReady();
    }
  }
}

/** `found` of `readWhen` for a lookup: it holds once the index has the entry. */
export const isKnown = (value: unknown): boolean => value !== undefined;
