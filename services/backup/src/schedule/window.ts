import { createHash } from 'node:crypto';
import { scheduledBackupId } from './slots.js';

const DAY_MS = 86_400_000;

/**
 * The share of the window over which the tenants' backups are started; the rest is left to the
 * last ones to finish, and to their retries.
 */
export const WINDOW_SPREAD = 0.75;

/** `BACKUP_WINDOW`: a daily UTC time range; `endMs <= startMs` means it passes midnight. */
export interface BackupWindow {
  startMs: number;
  endMs: number;
  text: string;
}

/** One night's window: `day` is the UTC day number (since 1970-01-01) on which it starts. */
export interface WindowOccurrence {
  day: number;
  start: Date;
  end: Date;
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

/** Parse `HH:MM[:SS]-HH:MM[:SS]` (UTC); throws a message a person can act on. Pure. */
export function parseBackupWindow(text: string): BackupWindow {
  const [from, to, ...rest] = text.trim().split('-');
  const start = from === undefined ? undefined : TIME.exec(from.trim());
  const end = to === undefined ? undefined : TIME.exec(to.trim());
  if (!start || !end || rest.length > 0) {
    throw new Error(`"${text}" is not a UTC time range such as 01:00-05:00 (HH:MM or HH:MM:SS on both sides)`);
  }
  const msOf = (m: RegExpExecArray) => ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 1_000;
  const window = { startMs: msOf(start), endMs: msOf(end), text: text.trim() };
  if (window.startMs === window.endMs) throw new Error(`"${text}" is an empty window: its start and end are the same`);
  return window;
}

export function windowLengthMs(window: BackupWindow): number {
  return window.endMs > window.startMs ? window.endMs - window.startMs : DAY_MS - window.startMs + window.endMs;
}

/** The occurrence of the window that `now` is in, or undefined outside it. Pure. */
export function windowAround(window: BackupWindow, now: Date): WindowOccurrence | undefined {
  const today = Math.floor(now.getTime() / DAY_MS);
  // A window passing midnight that `now` is in may have started yesterday.
  for (const day of [today, today - 1]) {
    const start = day * DAY_MS + window.startMs;
    const end = start + windowLengthMs(window);
    if (now.getTime() >= start && now.getTime() < end) return { day, start: new Date(start), end: new Date(end) };
  }
  return undefined;
}

/**
 * When a tenant's backup is asked for in an occurrence: at a point of the first
 * `WINDOW_SPREAD` of it taken from the tenant id and the day, so the fleet is spread evenly
 * and which tenants go first changes from night to night. Pure.
 */
export function dueInWindow(tenantId: string, occurrence: WindowOccurrence): Date {
  const spread = (occurrence.end.getTime() - occurrence.start.getTime()) * WINDOW_SPREAD;
  const fraction = createHash('sha256').update(`${tenantId}:${occurrence.day}`).digest().readUInt32BE(0) / 2 ** 32;
  return new Date(occurrence.start.getTime() + Math.floor(fraction * spread));
}

/** The one backup id of a tenant in one night's window: asking again never takes a second backup. */
export function windowBackupId(tenantId: string, occurrence: WindowOccurrence): string {
  return scheduledBackupId(tenantId, DAY_MS, occurrence.day);
}
