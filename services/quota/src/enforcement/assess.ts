import type { QuotaLevel } from '@ttm/contracts';

/** What quota remembers about one tenant's meter, between assessments. */
export interface MeterRecord {
  /** The window notices are counted in: the UTC month (ISO start). */
  window: string;
  level: QuotaLevel;
  limit: number;
  used: number;
  /** The last notice sent for this meter (across windows). */
  lastNotified: 'warning' | 'exceeded' | 'cleared' | null;
  /** Notices sent in this window, as `<type>@<limit>`, in order. */
  notified: string[];
}

export interface Reading {
  window: string;
  used: number;
  limit: number;
}

export type ClearedReason = 'limit-raised' | 'usage-dropped' | 'new-window';

export interface Notice {
  type: 'warning' | 'exceeded' | 'cleared';
  reason?: ClearedReason;
  window: string;
  used: number;
  limit: number;
  /** Position among this window's notices: part of the notice's deterministic id. */
  seq: number;
}

/** ok below the warning threshold, warning from `thresholdPercent` % of the limit, exceeded from 100 %. */
export function levelOf(used: number, limit: number, thresholdPercent: number): QuotaLevel {
  if (used >= limit) return 'exceeded';
  if (used * 100 >= limit * thresholdPercent) return 'warning';
  return 'ok';
}

/**
 * Decide a meter's level and which notices to send, from what was sent before. Pure.
 * - warning and exceeded are sent once per window and limit: usage creeping from 80 % to 99 %
 *   warns once, going past 100 % and on is exceeded once; a new limit (an override) or a new
 *   month may send them again;
 * - cleared is sent when a meter whose last notice was a warning or exceeded is back below that
 *   level (an override raised the limit, usage went down, or a new month began); a level that
 *   flaps afterwards under the same limit stays quiet until the next window.
 */
export function assess(
  previous: MeterRecord | undefined,
  reading: Reading,
  thresholdPercent: number,
): { record: MeterRecord; notices: Notice[] } {
  const newWindow = previous !== undefined && previous.window !== reading.window;
  const notified = previous && !newWindow ? [...previous.notified] : [];
  let lastNotified = previous?.lastNotified ?? null;
  const level = levelOf(reading.used, reading.limit, thresholdPercent);
  const notices: Notice[] = [];
  const send = (type: Notice['type'], reason?: ClearedReason) => {
    notices.push({
      type,
      ...(reason ? { reason } : {}),
      window: reading.window,
      used: reading.used,
      limit: reading.limit,
      seq: notified.length,
    });
    notified.push(`${type}@${reading.limit}`);
    lastNotified = type;
  };

  const below = (lastNotified === 'exceeded' && level !== 'exceeded') || (lastNotified === 'warning' && level === 'ok');
  if (below) {
    const reason: ClearedReason = newWindow
      ? 'new-window'
      : previous && reading.limit > previous.limit
        ? 'limit-raised'
        : 'usage-dropped';
    send('cleared', reason);
  }
  if (level === 'exceeded' && !notified.includes(`exceeded@${reading.limit}`)) send('exceeded');
  else if (level === 'warning' && !notified.includes(`warning@${reading.limit}`)) send('warning');

  return {
    record: { window: reading.window, level, limit: reading.limit, used: reading.used, lastNotified, notified },
    notices,
  };
}

/** The ce-id of a notice: the same state decides the same id, so a retry never sends a second notice. */
export function noticeId(tenantId: string, meter: string, notice: Notice): string {
  return `${tenantId}/${meter}/${notice.window}/${notice.seq}-${notice.type}`;
}
