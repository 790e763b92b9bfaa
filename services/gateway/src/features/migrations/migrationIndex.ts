import { SubjectFilters } from '@ttm/contracts';
import { FollowedIndex } from '../operations/followedIndex.js';
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
}
