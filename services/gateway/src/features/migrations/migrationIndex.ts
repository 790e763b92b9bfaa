import { SubjectFilters } from '@ttm/contracts';
import { FollowedIndex, isKnown } from '../operations/followedIndex.js';
import { applyMigrationEvent, type MigrationOperation } from './view.js';

/**
 * Every migration, in memory, folded from `evt.migration.>` (the EVENTS stream; never the backup
 * service's database): the operations route answers migrations from it, and the migrate route
 * refuses a second migration of a tenant while one runs.
 */
export class MigrationIndex extends FollowedIndex<MigrationOperation> {
  private readonly views = new Map<string, MigrationOperation>();
  private readonly running = new Map<string, string>();

  constructor() {
    super(SubjectFilters.migrationEvents, 'migration index');
  }

  get(migrationId: string): MigrationOperation | undefined {
    return this.views.get(migrationId);
  }

  /** The migration of the tenant that is running now, if any. */
  runningFor(tenantId: string): MigrationOperation | undefined {
    const id = this.running.get(tenantId);
    return id === undefined ? undefined : this.views.get(id);
  }

  /** The migration once the index knows it, waiting up to `timeoutMs` for it to appear. */
  awaitOperation(id: string, timeoutMs: number, signal?: AbortSignal): Promise<MigrationOperation | undefined> {
    return this.readWhen(() => this.views.get(id), isKnown, timeoutMs, signal);
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
}
