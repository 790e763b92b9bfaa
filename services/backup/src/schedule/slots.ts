import { createHash } from 'node:crypto';

/**
 * Scheduled backups come in slots of the plan's interval, each tenant's slots shifted by an
 * offset taken from its id, so a fleet on one plan does not back up all at the same second.
 * A slot has one backup id, derived from the tenant and the slot: every scheduler instance
 * that looks asks for the same backup, and the backup service takes it once. Pure.
 */
export function scheduledSlot(tenantId: string, everyMs: number, now: Date): number {
  return Math.floor((now.getTime() + offsetOf(tenantId, everyMs)) / everyMs);
}

export function scheduledBackupId(tenantId: string, everyMs: number, slot: number): string {
  const bytes = createHash('sha256').update(`scheduled-backup:${tenantId}:${everyMs}:${slot}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function offsetOf(tenantId: string, everyMs: number): number {
  return createHash('sha256').update(tenantId).digest().readUInt32BE(0) % everyMs;
}
