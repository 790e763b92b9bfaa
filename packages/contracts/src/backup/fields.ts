import { z } from 'zod';
import { Placement, TenantId, Timestamp } from '../tenant/fields.js';

export const BackupId = z.uuid().describe('Backup id (uuid); also the id of the operation that takes it');
export const RestoreId = z.uuid().describe('Restore id (uuid); also the id of the operation that runs it');
export const VerificationId = z
  .uuid()
  .describe('Verification id (uuid); the one run after a backup uses the backup id');

export const BackupTrigger = z
  .enum(['on-demand', 'scheduled', 'archive'])
  .describe('Why the backup was taken (`archive`: before an archive drops the workspace)');
export const RestoreMode = z
  .enum(['clone', 'in-place'])
  .describe(
    '`clone`: into a new workspace schema for another tenant id; `in-place`: replace the own data of the tenant',
  );
export const Sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('sha256, lower-case hex');

/** One table of a backup: `workspace` tables live in the tenant schema, `core` rows are the rows of the tenant in the core tables of the cluster. */
export const BackupTable = z
  .object({
    scope: z.enum(['workspace', 'core']),
    name: z.string().min(1).max(63),
    rows: z.number().int().nonnegative(),
    /** sha256 over the rows in primary-key order, each its canonical JSON (`row_to_json`, UTC) and a newline. */
    sha256: Sha256,
  })
  .describe('Row count and checksum of one table');
export type BackupTable = z.infer<typeof BackupTable>;

export const BackupManifest = z
  .object({
    format: z.literal('ttm-backup/1'),
    tenantId: TenantId,
    placement: Placement,
    /** `core.dataSource.schemaVersion` of the tenant when it was backed up. */
    schemaVersion: z.number().int().nonnegative(),
    tables: z.array(BackupTable),
    totalRows: z.number().int().nonnegative(),
    /** Size of the stored (gzipped) artifact. */
    totalBytes: z.number().int().nonnegative(),
    /** Size of the artifact before compression. */
    uncompressedBytes: z.number().int().nonnegative(),
    /** Object name in the backup store. */
    objectName: z.string().min(1).max(255),
    store: z.enum(['nats', 'file', 's3']),
    /** When the snapshot transaction started: every row is as it was at this instant. */
    snapshotAt: Timestamp,
  })
  .describe('What a backup holds, and how to check it');
export type BackupManifest = z.infer<typeof BackupManifest>;

export const TableMismatch = z.object({
  scope: z.enum(['workspace', 'core']),
  name: z.string().min(1).max(63),
  expected: z.object({ rows: z.number().int().nonnegative(), sha256: Sha256 }).nullable(),
  actual: z.object({ rows: z.number().int().nonnegative(), sha256: Sha256 }).nullable(),
});
export type TableMismatch = z.infer<typeof TableMismatch>;

export const RestoreStep = z
  .enum(['read-artifact', 'prepare-target', 'load-rows', 'check'])
  .describe('A step of a restore, in order');
export type RestoreStep = z.infer<typeof RestoreStep>;
