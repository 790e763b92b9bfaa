import { type KV, Kvm } from '@nats-io/kv';
import { Buckets, type WriteFreeze } from '@ttm/contracts';
import type { Logger, NatsConnection } from '@ttm/service-kit';

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

  private async follow(kv: KV): Promise<void> {
    for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
      try {
        const watch = await kv.watch({ key: '>' });
        const stop = () => watch.stop();
        this.stopping.signal.addEventListener('abort', stop, { once: true });
        try {
          for await (const change of watch) {
            attempt = 1;
            if (change.operation === 'PUT') {
              try {
                this.put(change.key, change.json<FreezeEntry>());
              } catch (error) {
                this.logger.error({ err: error, key: change.key }, 'write freeze value is not JSON; ignored');
              }
            } else {
              this.lift(change.key);
            }
          }
        } finally {
          this.stopping.signal.removeEventListener('abort', stop);
        }
      } catch (error) {
        if (!this.stopping.signal.aborted) this.logger.warn({ err: error }, 'watching write freezes failed; again');
      }
      if (!this.stopping.signal.aborted) await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * attempt)));
    }
  }
}
