import { type KV, Kvm } from '@nats-io/kv';
import { Buckets, type WriteFreeze } from '@ttm/contracts';
import { type Logger, type NatsConnection, watchKv } from '@ttm/service-kit';

export type FreezeEntry = WriteFreeze & { placement_seq?: number };

/**
 * The tenant write freezes (`ttm-write-freeze`), in memory: loaded at start, then kept current
 * by a KV watch, so the check on every tenant write costs a map lookup. A migration's freeze
 * that carries `placement_seq` keeps holding after it is lifted until this gateway's tenant
 * directory has applied that event: writes never reach the old placement.
 */
export class FreezeWatcher {
  private readonly frozen = new Map<string, FreezeEntry>();
  /** Lifted migration freezes: tenant -> the tenant-stream sequence the directory must reach first. */
  private readonly settling = new Map<string, { entry: FreezeEntry; seq: number }>();
  private readonly stopping = new AbortController();
  private following: Promise<void> | undefined;
  private kv: KV | undefined;

  constructor(
    private readonly directoryPosition: () => number,
    private readonly logger: Logger,
  ) {}

  /** Open the bucket and load every freeze, then follow changes in the background. */
  async start(nc: NatsConnection): Promise<void> {
    this.kv = await new Kvm(nc).open(Buckets.writeFreeze);
    const keys = await this.kv.keys();
    for await (const key of keys) {
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') this.put(key, entry.json<FreezeEntry>());
    }
    this.following = this.follow(this.kv);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.following;
  }

  /** The freeze that refuses the tenant writes now, if any. */
  check(tenantId: string): FreezeEntry | undefined {
    const entry = this.frozen.get(tenantId);
    if (entry) return entry;
    const settling = this.settling.get(tenantId);
    if (!settling) return undefined;
    if (this.directoryPosition() >= settling.seq) {
      this.settling.delete(tenantId);
      return undefined;
    }
    return settling.entry;
  }

  /** Every freeze in force (for diagnostics). */
  get size(): number {
    return this.frozen.size;
  }

  private put(tenantId: string, entry: FreezeEntry): void {
    this.frozen.set(tenantId, entry);
    this.settling.delete(tenantId);
  }

  private lift(tenantId: string): void {
    const entry = this.frozen.get(tenantId);
    this.frozen.delete(tenantId);
    if (entry?.placement_seq !== undefined && this.directoryPosition() < entry.placement_seq) {
      this.settling.set(tenantId, { entry, seq: entry.placement_seq });
    }
  }

  private follow(kv: KV): Promise<void> {
    return watchKv({
      kv,
      key: '>',
      signal: this.stopping.signal,
      logger: this.logger,
      what: 'write freezes',
      backoff: { baseMs: 100, maxMs: 5_000 },
      onPut: (tenantId, value) => this.put(tenantId, value as FreezeEntry),
      onDelete: (tenantId) => this.lift(tenantId),
    });
  }
}
