import { CreateBackup, encodeMessage } from '@ttm/contracts';
import { pause, publishMessage } from '@ttm/service-kit';
import { SOURCE } from '../backups/aggregate.js';
import type { BackupDeps } from '../deps.js';
import { SYSTEM_ACTOR } from '../deps.js';
import { scheduledBackupId, scheduledSlot } from './slots.js';
import { type BackupWindow, dueInWindow, windowAround, windowBackupId } from './window.js';

const DAY_MS = 86_400_000;

/**
 * Every `tickMs`, ask for the scheduled backup of each active or suspended tenant whose plan
 * backs up on a schedule (`backups.scheduleEveryMs`) and whose current slot has none yet. With
 * a `window` (`BACKUP_WINDOW`), plans backed up daily are backed up once in each night's window
 * instead, each tenant at its own point of it (see `window.ts`). The command carries the slot's
 * backup id as its message id, so instances asking at once are deduplicated by JetStream, and
 * the backup service starts a backup id once in any case; what was asked is recorded, so a
 * restarted scheduler does not queue a second command for a backup still waiting its turn.
 */
export async function runScheduler(
  deps: BackupDeps,
  tickMs: number,
  signal: AbortSignal,
  window?: BackupWindow,
  newTenantGraceMs = NEW_TENANT_GRACE_MS,
): Promise<void> {
  if (tickMs <= 0) return;
  while (!signal.aborted) {
    try {
      const asked = await askForDueBackups(deps, new Date(), window, newTenantGraceMs);
      if (asked > 0) deps.logger.info({ asked }, 'scheduled backups requested');
    } catch (error) {
      deps.logger.warn({ err: error }, 'scheduler tick failed; trying again at the next tick');
    }
    await pause(tickMs, signal);
  }
}

/** `BACKUP_NEW_TENANT_GRACE` by default: how long after the scheduler first sees a tenant it is not yet due. */
export const NEW_TENANT_GRACE_MS = 10 * 60_000;

/**
 * One tick: returns how many backups it asked for. A tenant the scheduler saw for the first time
 * less than `newTenantGraceMs` ago is not due yet (a burst of registrations does not bring a burst
 * of backups of workspaces that hold only what provisioning wrote); then its current slot, or
 * tonight's window, is.
 */
export async function askForDueBackups(
  deps: BackupDeps,
  now: Date,
  window?: BackupWindow,
  newTenantGraceMs = NEW_TENANT_GRACE_MS,
): Promise<number> {
  const scheduled = deps.catalog.plans.filter((p) => p.backups.scheduleEveryMs > 0);
  if (scheduled.length === 0) return 0;
  await deps.pool.query(
    `INSERT INTO backup.schedule_first_seen (tenant_id, first_seen)
     SELECT tenant_id, $1 FROM backup.tenants WHERE status IN ('active', 'suspended')
     ON CONFLICT DO NOTHING`,
    [now],
  );
  const { rows: tenants } = await deps.pool.query<{ tenant_id: string; plan: string }>(
    `SELECT t.tenant_id, t.plan FROM backup.tenants t JOIN backup.schedule_first_seen f USING (tenant_id)
      WHERE t.status IN ('active', 'suspended') AND t.plan = ANY($1) AND f.first_seen <= $2`,
    [scheduled.map((p) => p.name), new Date(now.getTime() - newTenantGraceMs)],
  );
  const occurrence = window ? windowAround(window, now) : undefined;
  const due: { tenantId: string; backupId: string }[] = [];
  for (const t of tenants) {
    const everyMs = deps.catalog.plan(t.plan)!.backups.scheduleEveryMs;
    if (window && everyMs === DAY_MS) {
      // Nightly: only inside the window, once the tenant's point of it has come.
      if (occurrence && dueInWindow(t.tenant_id, occurrence) <= now) {
        due.push({ tenantId: t.tenant_id, backupId: windowBackupId(t.tenant_id, occurrence) });
      }
      continue;
    }
    due.push({
      tenantId: t.tenant_id,
      backupId: scheduledBackupId(t.tenant_id, everyMs, scheduledSlot(t.tenant_id, everyMs, now)),
    });
  }
  if (due.length === 0) return 0;
  const { rows: known } = await deps.pool.query<{ id: string }>(
    `SELECT id FROM backup.backups WHERE id = ANY($1::uuid[])
     UNION SELECT backup_id FROM backup.scheduled_requests WHERE backup_id = ANY($1::uuid[])`,
    [due.map((d) => d.backupId)],
  );
  const taken = new Set(known.map((k) => k.id));
  let asked = 0;
  for (const { tenantId, backupId } of due) {
    if (taken.has(backupId)) continue;
    const message = encodeMessage(
      CreateBackup,
      { backupId, tenantId, trigger: 'scheduled', actor: SYSTEM_ACTOR, requestedAt: now.toISOString() },
      { source: SOURCE, subject: backupId, id: backupId },
    );
    await publishMessage(deps.js, CreateBackup.subject, message);
    // After the publish: a crash in between asks again, for the same backup id.
    await deps.pool.query(
      'INSERT INTO backup.scheduled_requests (backup_id, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [backupId, tenantId],
    );
    asked++;
  }
  if (asked > 0) {
    // Kept for two days, longer than any window and the daily slot: older ones are never asked again.
    await deps.pool.query(`DELETE FROM backup.scheduled_requests WHERE asked_at < $1`, [
      new Date(now.getTime() - 2 * DAY_MS),
    ]);
  }
  return asked;
}
