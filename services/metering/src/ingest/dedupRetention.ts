import type { Pool } from '@ttm/service-kit';

const CHUNK = 10_000;

/**
 * Forget usage keys recorded before `before`, a chunk at a time so no long transaction holds
 * the table. A message older than the retention that came again would count again: keep the
 * retention at least as long as the USAGE stream keeps messages (USAGE_MAX_AGE).
 */
export async function pruneDedupKeys(pool: Pool, before: Date): Promise<number> {
  let removed = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      `DELETE FROM metering.usage_dedup WHERE ctid IN (
         SELECT ctid FROM metering.usage_dedup WHERE recorded_at < $1 LIMIT ${CHUNK})`,
      [before.toISOString()],
    );
    removed += rowCount ?? 0;
    if ((rowCount ?? 0) < CHUNK) return removed;
  }
}
