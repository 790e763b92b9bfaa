/** How many backups a plan keeps (`catalog.plan(name).backups`). */
export interface RetentionPolicy {
  /** The newest N backups. */
  keepLast: number;
  /** The newest backup of each of the last N UTC days, today included. */
  keepDaily: number;
  /** The newest backup of each of the last N ISO weeks (Monday to Sunday, UTC), this week included. */
  keepWeekly: number;
}

/** A good (completed, not deleted) backup, as retention sees it. */
export interface RetainedBackup {
  id: string;
  completedAt: Date;
}

const DAY_MS = 86_400_000;

/** Days since the epoch, UTC. */
const dayOf = (t: number) => Math.floor(t / DAY_MS);
/** Weeks since the Monday before the epoch (1970-01-01 was a Thursday), UTC. */
const weekOf = (t: number) => Math.floor((dayOf(t) + 3) / 7);

/**
 * The backups a policy no longer keeps, oldest first. Kept is the union of: the `keepLast`
 * newest; the newest of each of the `keepDaily` calendar days ending today; the newest of each
 * of the `keepWeekly` calendar weeks ending this week. Windows count calendar days and weeks
 * back from `now`, whether or not they hold a backup. A backup dated after `now` (a clock ahead
 * of ours) is always kept. Pure: the same input always selects the same ids.
 */
export function selectForDeletion(backups: readonly RetainedBackup[], policy: RetentionPolicy, now: Date): string[] {
  const newestFirst = [...backups].sort(
    (a, b) => b.completedAt.getTime() - a.completedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
  const nowMs = now.getTime();
  const kept = new Set<string>();
  for (const backup of newestFirst.slice(0, Math.max(0, policy.keepLast))) kept.add(backup.id);
  for (const backup of newestFirst) if (backup.completedAt.getTime() > nowMs) kept.add(backup.id);
  keepNewestPerPeriod(newestFirst, dayOf, dayOf(nowMs), policy.keepDaily, nowMs, kept);
  keepNewestPerPeriod(newestFirst, weekOf, weekOf(nowMs), policy.keepWeekly, nowMs, kept);
  return newestFirst
    .filter((b) => !kept.has(b.id))
    .reverse()
    .map((b) => b.id);
}

function keepNewestPerPeriod(
  newestFirst: readonly RetainedBackup[],
  periodOf: (t: number) => number,
  current: number,
  count: number,
  nowMs: number,
  kept: Set<string>,
): void {
  if (count <= 0) return;
  const oldest = current - count + 1;
  const seen = new Set<number>();
  for (const backup of newestFirst) {
    const t = backup.completedAt.getTime();
    if (t > nowMs) continue;
    const period = periodOf(t);
    if (period < oldest || period > current || seen.has(period)) continue;
    seen.add(period);
    kept.add(backup.id);
  }
}
