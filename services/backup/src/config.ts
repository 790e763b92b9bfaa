import { catalogEnv, commonEnv, dataPlaneBudgetEnv, portEnv, servicePorts } from '@ttm/service-kit';
import { z } from 'zod';

const backupFields = commonEnv.extend({
  ...catalogEnv,
  ...dataPlaneBudgetEnv,
  BACKUP_PORT: portEnv.port(servicePorts.backup).describe('HTTP port of the backup health and metrics endpoints'),
  BACKUP_STORE: z
    .enum(['nats', 'file', 's3'])
    .default('nats')
    .describe(
      'Where backup artifacts go: the NATS object store bucket ttm-backups, files under BACKUP_DIR, or the S3 bucket BACKUP_S3_BUCKET',
    ),
  BACKUP_DIR: z
    .string()
    .min(1)
    .default('./.data/backups')
    .describe('Directory of the artifacts when BACKUP_STORE=file'),
  BACKUP_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 of a-z, 0-9, dots and hyphens)')
    .optional()
    .describe('Bucket of the artifacts when BACKUP_STORE=s3 (required then; credentials come from the AWS_* chain)'),
  BACKUP_S3_PREFIX: z
    .string()
    .default('')
    .refine((v) => v === '' || (v.endsWith('/') && !v.startsWith('/')), 'must end with / and not start with one')
    .describe("Prefix of the artifacts' keys in BACKUP_S3_BUCKET, such as backups/ (empty: none)"),
  BACKUP_S3_ENDPOINT: z
    .string()
    .refine((v) => /^https?:\/\/[^/]/.test(v) && URL.canParse(v), 'must be a URL starting with http:// or https://')
    .optional()
    .describe('Endpoint of an S3-compatible server such as MinIO (empty: AWS S3)'),
  BACKUP_S3_REGION: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'must be a region name such as eu-west-1')
    .optional()
    .describe(
      'Region of BACKUP_S3_BUCKET (empty: AWS_REGION or the AWS profile; us-east-1 suits most S3-compatible servers)',
    ),
  BACKUP_S3_FORCE_PATH_STYLE: portEnv
    .flag(false)
    .describe(
      'Address the bucket as <endpoint>/<bucket> rather than <bucket>.<endpoint> (MinIO and most S3-compatible servers need true)',
    ),
  BACKUP_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(32)
    .default(2)
    .describe('Backups, verifications and restores run at once by one instance'),
  BACKUP_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10)
    .default(3)
    .describe('Attempts at taking a backup before it is recorded as failed'),
  BACKUP_RETRY_DELAY: portEnv.duration('1s').describe('First delay between attempts of a backup (doubles)'),
  BACKUP_STALE_AFTER: portEnv
    .duration('6h')
    .describe('A backup still running after this long was abandoned: the start-up cleanup records it failed'),
  BACKUP_VERIFY_AFTER_BACKUP: portEnv.flag(true).describe('Verify every backup right after it completes'),
  BACKUP_SCHEDULE_EVERY: portEnv
    .duration('1m')
    .describe(
      'How often the scheduler looks for tenants due a scheduled backup (plans set the interval; 0 turns it off)',
    ),
  BACKUP_BATCH_ROWS: z.coerce
    .number()
    .int()
    .min(100)
    .max(100_000)
    .default(5_000)
    .describe('Rows read or written per round trip while backing up and restoring'),
  BACKUP_MAX_ROWS_PER_SECOND: z.coerce
    .number()
    .int()
    .min(0)
    .default(5_000)
    .describe(
      'Backups read at most this many rows a second, to leave the database to tenant traffic (0: unthrottled; restores and migrations never are)',
    ),
  MIGRATION_SOURCE_GRACE: portEnv
    .duration('24h')
    .describe('How long a migrated tenant keeps its old copy before it is removed (0: at once)'),
  MIGRATION_SWEEP_EVERY: portEnv
    .duration('1m')
    .describe('How often the backup service looks for migration sources whose grace period is over'),
  MIGRATION_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(16)
    .default(2)
    .describe('Tenant migrations run at once by one instance'),
  WRITE_FREEZE_RETRY_AFTER: portEnv
    .duration('5s')
    .describe('Retry-After given to tenant writes refused during a restore or migration (whole seconds)'),
  DATA_PLANE_POOL_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(4)
    .describe('Connections per data-plane database (bounded pool per cluster, never per tenant)'),
});
export const backupEnv = backupFields.superRefine(
  (config, ctx) => {
    if (config.BACKUP_STORE === 's3' && !config.BACKUP_S3_BUCKET) {
      ctx.addIssue({ code: 'custom', path: ['BACKUP_S3_BUCKET'], message: 'required when BACKUP_STORE=s3' });
    }
  },
  // Checked even when other variables are bad, so every problem is named at once.
  { when: () => true },
);
export type BackupConfig = z.output<typeof backupEnv>;
