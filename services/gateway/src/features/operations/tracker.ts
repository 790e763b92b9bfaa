import {
  ProvisioningFailed,
  ProvisioningRetried,
  ProvisioningStepCompleted,
  TenantProvisioned,
  TenantRegistered,
} from '@ttm/contracts';
import { isMessage, type Logger, type Pool, type ReceivedEvent } from '@ttm/service-kit';
import type { DirectoryEntry, TenantDirectory } from '../tenants/directory.js';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';
import { type Operation, type OperationTimes, provisioningOperation } from './operation.js';

export type ChangeListener = (entry: DirectoryEntry, event: ReceivedEvent) => void;

/** A registration this gateway answered 202 to, which the provisioner has not recorded yet. */
export interface AcceptedRegistration {
  provisioningId: string;
  tenantId: string;
  acceptedAt: number;
}

/**
 * How many accepted registrations a gateway remembers, and for how long: long enough for a
 * provisioner that is down or working through a burst to record them (its command consumer
 * waits out outages of at least 227 s), bounded so a flood cannot grow it without end.
 */
const ACCEPTED_MAX = 100_000;
const ACCEPTED_TTL_MS = 3_600_000;

const provisioningEvents = new Set<string>([
  TenantRegistered.type,
  ProvisioningStepCompleted.type,
  TenantProvisioned.type,
  ProvisioningFailed.type,
  ProvisioningRetried.type,
]);

/**
 * Operations as the tenant directory sees them, answered from memory: status and progress
 * come from the directory entry, start and update times from the events it applied (or,
 * for entries it loaded at start, once from `gateway.operations`). One listener on the
 * directory fans changes out to whoever watches one tenant or one operation (event
 * streams, an admin waiting for a suspension), so thousands of watchers cost one listener.
 */
export class OperationTracker {
  private readonly times = new Map<string, Partial<OperationTimes>>();
  private readonly operationWatchers = new Map<string, Set<ChangeListener>>();
  private readonly tenantWatchers = new Map<string, Set<ChangeListener>>();
  /** By provisioning id, oldest first; dropped once the directory has the tenant. */
  private readonly accepted = new Map<string, AcceptedRegistration>();

  constructor(
    private readonly directory: TenantDirectory,
    private readonly pool: Pool,
    private readonly logger: Logger,
  ) {
    directory.on('change', (entry, event) => this.changed(entry, event));
  }

  /** Watchers currently registered (event streams, waits): for diagnostics and tests. */
  get watching(): number {
    let count = 0;
    for (const set of this.operationWatchers.values()) count += set.size;
    for (const set of this.tenantWatchers.values()) count += set.size;
    return count;
  }

  /** The operation with this id, or undefined if the directory does not know it. */
  async find(operationId: string): Promise<Operation | undefined> {
    const entry = this.directory.byProvisioningId(operationId);
    return entry && provisioningOperation(entry, await this.timesOf(entry));
  }

  /** The operation once the directory knows it, waiting up to `timeoutMs` for its first event. */
  async awaitOperation(operationId: string, timeoutMs: number, signal?: AbortSignal): Promise<Operation | undefined> {
    const known = await this.find(operationId);
    if (known || timeoutMs <= 0) return known;
    await this.nextChange(this.operationWatchers, operationId, timeoutMs, () => true, signal);
    return this.find(operationId);
  }

  /** The operation's entry, from memory (no time lookup): for the polled provisioning status. */
  entryOf(operationId: string): DirectoryEntry | undefined {
    return this.directory.byProvisioningId(operationId);
  }

  /**
   * A registration this gateway has just answered 202 to. Its first event comes only once the
   * provisioner takes the command, which in a burst can be minutes later (it provisions
   * PROVISIONER_CONCURRENCY tenants at a time); until then the status route answers `pending`
   * from here instead of 404 to the client following the 202's Location.
   */
  acceptedRegistration(provisioningId: string, tenantId: string, now = Date.now()): void {
    if (this.directory.byProvisioningId(provisioningId)) return;
    this.accepted.delete(provisioningId);
    this.accepted.set(provisioningId, { provisioningId, tenantId, acceptedAt: now });
    for (const [id, registration] of this.accepted) {
      if (this.accepted.size <= ACCEPTED_MAX && now - registration.acceptedAt < ACCEPTED_TTL_MS) break;
      this.accepted.delete(id);
    }
  }

  /** A registration accepted here and not recorded by the provisioner yet (see `acceptedRegistration`). */
  acceptedOnly(provisioningId: string, now = Date.now()): AcceptedRegistration | undefined {
    const registration = this.accepted.get(provisioningId);
    if (!registration || now - registration.acceptedAt >= ACCEPTED_TTL_MS) return undefined;
    return registration;
  }

  /** Called with every change of the operation; returns the function that stops it. */
  watchOperation(operationId: string, listener: ChangeListener): () => void {
    return this.watch(this.operationWatchers, operationId, listener);
  }

  /**
   * Wait until the tenant's entry satisfies `reached` (checked at once, then after each of its
   * events); resolves with the entry and the event that got it there (none if it already
   * had), or undefined after `timeoutMs`.
   */
  async awaitTenant(
    tenantId: string,
    reached: (entry: DirectoryEntry) => boolean,
    timeoutMs: number,
  ): Promise<{ entry: DirectoryEntry; event?: ReceivedEvent } | undefined> {
    return this.nextChange(this.tenantWatchers, tenantId, timeoutMs, reached);
  }

  /** Subscribe first, then check: a change between the two cannot be missed. */
  private nextChange(
    watchers: Map<string, Set<ChangeListener>>,
    key: string,
    timeoutMs: number,
    reached: (entry: DirectoryEntry) => boolean,
    signal?: AbortSignal,
  ): Promise<{ entry: DirectoryEntry; event?: ReceivedEvent } | undefined> {
    return new Promise((resolve) => {
      const finish = (result: { entry: DirectoryEntry; event?: ReceivedEvent } | undefined) => {
        clearTimeout(timer);
        stop();
        signal?.removeEventListener('abort', abort);
        resolve(result);
      };
      const abort = () => finish(undefined);
      const stop = this.watch(watchers, key, (entry, event) => {
        if (reached(entry)) finish({ entry, event });
      });
      const timer = setTimeout(abort, timeoutMs);
      signal?.addEventListener('abort', abort, { once: true });
      if (signal?.aborted) return abort();
      const current = watchers === this.tenantWatchers ? this.directory.get(key) : this.directory.byProvisioningId(key);
      if (current && reached(current)) finish({ entry: current });
    });
  }

  private watch(watchers: Map<string, Set<ChangeListener>>, key: string, listener: ChangeListener): () => void {
    let set = watchers.get(key);
    if (!set) {
      set = new Set();
      watchers.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && watchers.get(key) === set) watchers.delete(key);
    };
  }

  private changed(entry: DirectoryEntry, event: ReceivedEvent): void {
    try {
      this.accepted.delete(entry.provisioningId);
      if (provisioningEvents.has(event.meta.type)) {
        const times = this.times.get(entry.provisioningId) ?? {};
        if (isMessage(event, TenantRegistered)) times.startedAt = event.data.registeredAt;
        times.updatedAt = event.meta.time;
        this.times.set(entry.provisioningId, times);
      }
      this.notify(this.operationWatchers.get(entry.provisioningId), entry, event);
      this.notify(this.tenantWatchers.get(entry.tenantId), entry, event);
    } catch (error) {
      // Never into the directory's loop: it would log the event as unreadable.
      this.logger.error({ err: error, seq: event.seq }, 'operation tracker failed on a tenant change');
    }
  }

  private notify(listeners: Set<ChangeListener> | undefined, entry: DirectoryEntry, event: ReceivedEvent): void {
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        listener(entry, event);
      } catch (error) {
        this.logger.error({ err: error, tenantId: entry.tenantId }, 'a watcher of a tenant change failed');
      }
    }
  }

  /** From memory; an entry loaded from the projection at start reads its times once. */
  private async timesOf(entry: DirectoryEntry): Promise<OperationTimes> {
    const known = this.times.get(entry.provisioningId);
    if (known?.startedAt && known.updatedAt) return { startedAt: known.startedAt, updatedAt: known.updatedAt };
    const { rows } = await this.pool.query<{ started_at: Date; updated_at: Date }>(
      `SELECT started_at, updated_at FROM ${GATEWAY_SCHEMA}.operations WHERE operation_id = $1`,
      [entry.provisioningId],
    );
    const row = rows[0];
    if (!row) {
      // The projection has not caught up with the directory yet: answer with what is known.
      const now = new Date().toISOString();
      return { startedAt: known?.startedAt ?? known?.updatedAt ?? now, updatedAt: known?.updatedAt ?? now };
    }
    const stored = row.updated_at.toISOString();
    const times: OperationTimes = {
      startedAt: row.started_at.toISOString(),
      updatedAt: known?.updatedAt && known.updatedAt > stored ? known.updatedAt : stored,
    };
    this.times.set(entry.provisioningId, times);
    return times;
  }
}
