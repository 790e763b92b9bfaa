import { EventEmitter } from 'node:events';
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { Streams, SubjectFilters } from '@ttm/contracts';
import { decodeReceived, type Logger } from '@ttm/service-kit';
import { applyMigrationEvent, type MigrationOperation } from './view.js';

/**
 * Every migration, in memory, folded from `evt.migration.>` (the EVENTS stream; never the backup
 * service's database): the operations route answers migrations from it, and the migrate route
 * refuses a second migration of a tenant while one runs.
 */
export class MigrationIndex extends EventEmitter<{ change: [MigrationOperation] }> {
  private readonly views = new Map<string, MigrationOperation>();
  private readonly running = new Map<string, string>();
  private readonly stopping = new AbortController();
  private markReady: () => void = () => undefined;
  readonly ready = new Promise<void>((resolve) => {
    this.markReady = resolve;
  });
  private following: Promise<void> | undefined;

  constructor() {
    super();
    this.setMaxListeners(0);
  }

  start(js: JetStreamClient, logger: Logger): void {
    this.following ??= this.follow(js, logger).catch((error: unknown) => {
      this.markReady();
      logger.error({ err: error }, 'migration index stopped following events');
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.following;
  }

  get(migrationId: string): MigrationOperation | undefined {
    return this.views.get(migrationId);
  }

  /** The migration of the tenant that is running now, if any. */
  runningFor(tenantId: string): MigrationOperation | undefined {
    const id = this.running.get(tenantId);
    return id === undefined ? undefined : this.views.get(id);
  }

  async awaitOperation(id: string, timeoutMs: number, signal?: AbortSignal): Promise<MigrationOperation | undefined> {
    await this.ready;
    const known = this.views.get(id);
    if (known || timeoutMs <= 0 || signal?.aborted) return known;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('change', listener);
        signal?.removeEventListener('abort', done);
        resolve(this.views.get(id));
      };
      const listener = (view: MigrationOperation) => {
        if (view.id === id) done();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.on('change', listener);
    });
  }

  watchOperation(id: string, listener: (operation: MigrationOperation) => void): () => void {
    const onChange = (view: MigrationOperation) => {
      if (view.id === id) listener(view);
    };
    this.on('change', onChange);
    return () => this.off('change', onChange);
  }

  apply(event: { type: string; data: unknown }): void {
    const id = (event.data as { migrationId?: unknown }).migrationId;
    if (typeof id !== 'string') return;
    const before = this.views.get(id);
    const after = applyMigrationEvent(before, event);
    if (!after || after === before) return;
    this.views.set(id, after);
    if (after.status === 'running') this.running.set(after.tenant_id, id);
    else if (this.running.get(after.tenant_id) === id) this.running.delete(after.tenant_id);
    this.emit('change', after);
  }

  private async follow(js: JetStreamClient, logger: Logger): Promise<void> {
    const consumer = await js.consumers.get(Streams.EVENTS, {
      filter_subjects: SubjectFilters.migrationEvents,
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
          logger.warn({ seq: msg.seq, err: error }, 'migration index skipped an event it cannot read');
        }
        if (msg.info.pending === 0) this.markReady();
      }
    } finally {
      this.stopping.signal.removeEventListener('abort', stop);
      this.markReady();
    }
  }
}

const indexes = new WeakMap<object, MigrationIndex>();

/** The gateway's migration index (one per JetStream client), following events from its first use. */
export function migrationIndexOf(deps: { js: JetStreamClient; logger: Logger }): MigrationIndex {
  let index = indexes.get(deps.js);
  if (!index) {
    index = new MigrationIndex();
    index.start(deps.js, deps.logger);
    indexes.set(deps.js, index);
  }
  return index;
}
