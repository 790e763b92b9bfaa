import { CreateBackup, encodeMessage } from '@ttm/contracts';
import { pause, publishMessage } from '@ttm/service-kit';
import { SOURCE } from '../backups/aggregate.js';
import type { BackupDeps } from '../deps.js';
import { SYSTEM_ACTOR } from '../deps.js';
import { scheduledBackupId, scheduledSlot } from './slots.js';

/**
 * Every `tickMs`, ask for the scheduled backup of each active or suspended tenant whose plan
 * backs up on a schedule (`backups.scheduleEveryMs`) and whose current slot has none yet. The
 * command carries the slot's backup id as its message id, so instances asking at once are
 * deduplicated by JetStream, and the backup service starts a backup id once in any case.
 */
export async function runScheduler(deps: BackupDeps, tickMs: number, signal: AbortSignal): Promise<void> {
  if (tickMs <= 0) return;
  while (!signal.aborted) {
    try {
      const asked = await askForDueBackups(deps, new Date());
      if (asked > 0) deps.logger.info({ asked }, 'scheduled backups requested');
    } catch (error) {
      deps.logger.warn({ err: error }, 'scheduler tick failed; trying again at the next tick');
    }
    await pause(tickMs, signal);
  }
}

/** One tick: returns how many backups it asked for. */
export async function askForDueBackups(deps: BackupDeps, now: Date): Promise<number> {
  const scheduled = deps.catalog.plans.filter((p) => p.backups.scheduleEveryMs > 0);
  if (scheduled.length === 0) return 0;
  const { rows: tenants } = await deps.pool.query<{ tenant_id: string; plan: string }>(
    `SELECT tenant_id, plan FROM backup.tenants WHERE status IN ('active', 'suspended') AND plan = ANY($1)`,
    [scheduled.map((p) => p.name)],
  );
  const due = tenants.map((t) => {
    const everyMs = deps.catalog.plan(t.plan)!.backups.scheduleEveryMs;
    return {
      tenantId: t.tenant_id,
      backupId: scheduledBackupId(t.tenant_id, everyMs, scheduledSlot(t.tenant_id, everyMs, now)),
    };
  });
  if (due.length === 0) return 0;
  const { rows: known } = await deps.pool.query<{ id: string }>(
    'SELECT id FROM backup.backups WHERE id = ANY($1::uuid[])',
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
    asked++;
  }
  return asked;
}
