import { SubjectFilters } from '@ttm/contracts';
import { FollowedIndex, isKnown } from '../operations/followedIndex.js';
import { applyBackupEvent, type BackupOperation, type BackupView, operationOf } from './view.js';

/**
 * Every backup, restore and verification, in memory, folded from `evt.backup.>` (the EVENTS
 * stream, the source of truth; never the backup service's database). It answers the lists
 * and operation lookups; a backup's full detail (its manifest) is read from its events.
 * Memory grows with the number of backups kept, not with their size: manifests are dropped.
 */
export class BackupIndex extends FollowedIndex<BackupView> {
  private readonly views = new Map<string, BackupView>();
  private readonly byTenant = new Map<string, Set<string>>();
  /** Restore and verification ids -> their backup's id. */
  private readonly operations = new Map<string, string>();

  constructor() {
    super(SubjectFilters.backupEvents, 'backup index');
  }

  get(backupId: string): BackupView | undefined {
    return this.views.get(backupId);
  }

  /** A tenant's backups, newest first. */
  ofTenant(tenantId: string): BackupView[] {
    const ids = this.byTenant.get(tenantId) ?? new Set<string>();
    return [...ids]
      .map((id) => this.views.get(id)!)
      .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.id < b.id ? 1 : -1));
  }

  /** The backup, restore or verification with this id, if the index knows it. */
  operation(operationId: string): BackupOperation | undefined {
    const backupId = this.views.has(operationId) ? operationId : this.operations.get(operationId);
    const view = backupId === undefined ? undefined : this.views.get(backupId);
    return view && operationOf(view, operationId);
  }

  /** The operation once the index knows it, waiting up to `timeoutMs` for it to appear. */
  async awaitOperation(
    operationId: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<BackupOperation | undefined> {
    return this.readWhen(() => this.operation(operationId), isKnown, timeoutMs, signal);
  }

  /** Called with the operation after each change of its backup; returns the function that stops it. */
  watchOperation(operationId: string, listener: (operation: BackupOperation) => void): () => void {
    const onChange = () => {
      const operation = this.operation(operationId);
      if (operation) listener(operation);
    };
    this.on('change', onChange);
    return () => this.off('change', onChange);
  }

  /** Wait until `check` holds for the backup (checked now, then on each of its changes), at most `timeoutMs`. */
  async waitFor(
    backupId: string,
    check: (view: BackupView | undefined) => boolean,
    timeoutMs: number,
  ): Promise<BackupView | undefined> {
    return this.readWhen(() => this.views.get(backupId), check, timeoutMs);
  }

  /** Apply one event; unknown types and events of no backup are ignored. */
  apply(event: { type: string; data: unknown }): void {
    const backupId = (event.data as { backupId?: unknown }).backupId;
    if (typeof backupId !== 'string') return;
    const before = this.views.get(backupId);
    const after = applyBackupEvent(before, event);
    if (!after || after === before) return;
    const kept = { ...after, manifest: null };
    this.views.set(backupId, kept);
    let ids = this.byTenant.get(kept.tenant_id);
    if (!ids) {
      ids = new Set();
      this.byTenant.set(kept.tenant_id, ids);
    }
    ids.add(backupId);
    for (const r of kept.restores) this.operations.set(r.id, backupId);
    for (const v of kept.verifications) this.operations.set(v.id, backupId);
    this.emit('change', kept);
  }
}
