import { type KV, Kvm } from '@nats-io/kv';
import { Buckets, WriteFreeze } from '@ttm/contracts';
import type { NatsConnection } from '@ttm/service-kit';

export type FreezeEntry = WriteFreeze & {
  /** Set by a migration once the tenant points at its new placement: writes resume once a reader has applied it. */
  placement_seq?: number;
};

/**
 * The tenant write freezes (`ttm-write-freeze`, key = tenant id). A freeze belongs to the
 * restore or migration that set it: `acquire` is `create()` (or finds its own), so two
 * operations never hold one tenant at once, and only the holder releases it. Both are
 * idempotent, for redelivered commands.
 */
export class WriteFreezes {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<WriteFreezes> {
    return new WriteFreezes(await new Kvm(nc).open(Buckets.writeFreeze));
  }

  async get(tenantId: string): Promise<{ entry: FreezeEntry; revision: number } | undefined> {
    const found = await this.kv.get(tenantId);
    if (found?.operation !== 'PUT') return undefined;
    return { entry: found.json<FreezeEntry>(), revision: found.revision };
  }

  /** Freeze the tenant for `entry.operation_id`; the entry of another operation if it holds the tenant already. */
  async acquire(
    tenantId: string,
    entry: WriteFreeze,
  ): Promise<{ acquired: true; since: string } | { acquired: false; heldBy: FreezeEntry }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.get(tenantId);
      if (current) {
        if (current.entry.operation_id === entry.operation_id) return { acquired: true, since: current.entry.since };
        return { acquired: false, heldBy: current.entry };
      }
      try {
        await this.kv.create(tenantId, JSON.stringify(WriteFreeze.parse(entry)));
        return { acquired: true, since: entry.since };
      } catch (error) {
        // Someone created it between the read and the create: look again.
        if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
      }
    }
    throw new Error(`could not freeze tenant ${tenantId}: the freeze key keeps changing`);
  }

  /** Add to the holder's entry (e.g. `placement_seq`); nothing if another operation holds it. */
  async amend(tenantId: string, operationId: string, change: Partial<FreezeEntry>): Promise<void> {
    const current = await this.get(tenantId);
    if (!current || current.entry.operation_id !== operationId) return;
    await this.kv.update(tenantId, JSON.stringify({ ...current.entry, ...change }), current.revision);
  }

  /** Lift the freeze if `operationId` holds it; true if it was lifted now. */
  async release(tenantId: string, operationId: string): Promise<boolean> {
    const current = await this.get(tenantId);
    if (!current || current.entry.operation_id !== operationId) return false;
    await this.kv.delete(tenantId, { previousSeq: current.revision });
    return true;
  }
}
