import type { BackupDeps } from '../deps.js';
import { type BackupStore, backupObjectPrefix } from '../store/index.js';
import { executeBackupCommand, readBackup } from './aggregate.js';
import { removeArtifacts } from './deleteBackup.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * At start: what killed processes left behind. An artifact is kept only while its backup is
 * running (a redelivered command finishes it) or is the artifact its completed manifest
 * names; every other one (an earlier attempt, a failed or deleted backup) is removed. A
 * backup still running after `staleAfterMs` was abandoned: it is recorded failed and its
 * artifacts go. The projection only points at candidates; each is checked against the
 * backup's events, the source of truth, before anything is removed.
 */
export async function cleanUpAfterCrashes(
  deps: BackupDeps,
  staleAfterMs: number,
  now = new Date(),
): Promise<{ removed: number; abandoned: string[] }> {
  const byBackup = new Map<string, { tenantId: string; stores: Set<BackupStore>; objects: string[] }>();
  for (const [, store] of deps.stores.entries()) {
    for (const object of await store.list()) {
      const [tenantId, backupId] = object.name.split('/');
      if (!tenantId || !backupId || !UUID.test(backupId)) continue;
      const entry = byBackup.get(backupId) ?? { tenantId, stores: new Set(), objects: [] };
      entry.objects.push(object.name);
      entry.stores.add(store);
      byBackup.set(backupId, entry);
    }
  }
  // The common case, a good backup and its one artifact, needs no look at its events.
  const { rows: good } = await deps.pool.query<{ id: string; object_name: string }>(
    `SELECT id, object_name FROM backup.backups WHERE status = 'completed' AND id = ANY($1::uuid[])`,
    [[...byBackup.keys()]],
  );
  for (const row of good) {
    const objects = byBackup.get(row.id)?.objects;
    if (objects?.length === 1 && objects[0] === row.object_name) byBackup.delete(row.id);
  }
  const { rows: stale } = await deps.pool.query<{ id: string; tenant_id: string }>(
    `SELECT id, tenant_id FROM backup.backups WHERE status = 'running' AND created_at < $1`,
    [new Date(now.getTime() - staleAfterMs)],
  );
  for (const row of stale) {
    if (!byBackup.has(row.id)) byBackup.set(row.id, { tenantId: row.tenant_id, stores: new Set(), objects: [] });
  }

  let removed = 0;
  const abandoned: string[] = [];
  for (const [backupId, { tenantId, stores }] of byBackup) {
    let state = await readBackup(deps.js, backupId);
    const startedAt = state.startedAt ? Date.parse(state.startedAt) : 0;
    if (state.status === 'running') {
      if (now.getTime() - startedAt < staleAfterMs) continue;
      ({ state } = await executeBackupCommand(deps.js, backupId, {
        kind: 'Fail',
        reason: `abandoned: still running ${Math.round((now.getTime() - startedAt) / 60_000)} min after it started`,
        at: now,
      }));
      abandoned.push(backupId);
    }
    if (state.status === 'none') continue; // its first event may be on its way; the next start looks again
    const keep = state.status === 'completed' ? state.manifest?.objectName : undefined;
    // Its own region's store, and any other found holding a stray of it.
    if (state.placement) stores.add(deps.stores.of(state.placement.region));
    for (const store of stores) removed += await removeArtifacts(store, backupObjectPrefix(tenantId, backupId), keep);
  }
  if (removed > 0 || abandoned.length > 0) deps.logger.info({ removed, abandoned }, 'cleaned up after crashed backups');
  return { removed, abandoned };
}
