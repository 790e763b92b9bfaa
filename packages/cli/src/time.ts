import { UsageError } from './errors.js';

const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * `--since` as an ISO instant: either a timestamp (`2025-05-01`, `2025-05-01T10:00:00Z`)
 * or an age back from `now` (`90s`, `30m`, `1h`, `24h`, `7d`, `2w`).
 */
export function parseSince(text: string, now: Date): string {
  const age = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (age) {
    const unit = age[2] as keyof typeof unitMs;
    return new Date(now.getTime() - Number(age[1]) * unitMs[unit]).toISOString();
  }
  const time = Date.parse(text);
  if (Number.isNaN(time)) {
    throw new UsageError(`--since "${text}" is neither a time (2025-05-01T10:00:00Z) nor an age (30m, 1h, 24h, 7d)`);
  }
  return new Date(time).toISOString();
}

/** `850 ms`, `3.2 s`, `2 m 05 s`, `1 h 02 m`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} m ${pad(seconds % 60)} s`;
  return `${Math.floor(seconds / 3_600)} h ${pad(Math.floor(seconds / 60) % 60)} m`;
}

/** An ISO instant as `2025-05-01 10:00:00` (UTC): sortable and the same on every machine. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const time = Date.parse(iso);
  return Number.isNaN(time) ? iso : `${new Date(time).toISOString().slice(0, 19).replace('T', ' ')}`;
}

const pad = (n: number) => String(n).padStart(2, '0');
