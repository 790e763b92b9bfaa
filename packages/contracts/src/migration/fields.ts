import { z } from 'zod';
import { Timestamp } from '../tenant/fields.js';

export const MigrationId = z.uuid().describe('Migration id (uuid); also the id of the operation that runs it');

export const MigrationStep = z
  .enum(['freeze', 'copy', 'verify', 'switch', 'unfreeze', 'remove-source'])
  .describe(
    'A step of a tenant migration, in order: refuse writes, copy to the target, compare, point the tenant at the target, accept writes, drop the source after the grace period',
  );
export type MigrationStep = z.infer<typeof MigrationStep>;

/** One table compared by the verify step: the same count and checksum on both sides, or not. */
export const MigrationTableCheck = z
  .object({
    scope: z.enum(['workspace', 'core']),
    name: z.string().min(1).max(63),
    rows: z.number().int().nonnegative(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe('sha256 of the source rows (canonical encoding, as backups compute it)'),
    /** The target's, when it differs. */
    target: z
      .object({ rows: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
      .nullable()
      .optional(),
  })
  .describe('Row count and checksum of one table on the source (and on the target if they differ)');
export type MigrationTableCheck = z.infer<typeof MigrationTableCheck>;

export const FreezeReason = z.enum(['restore', 'migration', 'archive']).describe('Why the tenant writes are refused');

/**
 * The value of a `ttm-write-freeze` key (the key is the tenant id): while it exists the
 * gateway refuses the tenant writes with 503 and `Retry-After`.
 */
export const WriteFreeze = z
  .object({
    reason: FreezeReason,
    /** The restore or migration holding the freeze; only it clears it. */
    operation_id: z.uuid(),
    since: Timestamp,
    /** What the gateway sends as `Retry-After`, in seconds. */
    retry_after_s: z.number().int().min(1).max(3600),
  })
  .describe('A write freeze of one tenant');
export type WriteFreeze = z.infer<typeof WriteFreeze>;
