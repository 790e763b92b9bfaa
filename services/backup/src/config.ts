import { catalogEnv, commonEnv, dataPlaneBudgetEnv, keyEncryptionEnv, portEnv, servicePorts } from '@ttm/service-kit';
import { z } from 'zod';
import { parseBackupWindow } from './schedule/window.js';
import { RegionStoreSpec } from './store/regionalStores.js';

const backupFields = commonEnv.extend({
  ...catalogEnv,
  ...keyEncryptionEnv,
  ...dataPlaneBudgetEnv,
  BACKUP_PORT: portEnv.port(servicePorts.backup).describe('HTTP port of the backup health and metrics endpoints'),
  BACKUP_STORE: z
    .enum(['nats', 'file', 's3'])
    .default('nats')
    .describe(
      'Where the backup artifacts of regions not in BACKUP_STORES go: the NATS object store bucket ttm-backups-<region>, files under BACKUP_DIR/<region>, or the S3 bucket BACKUP_S3_BUCKET under <BACKUP_S3_PREFIX><region>/',
    ),
  BACKUP_STORES: z
    .string()
    .optional()
    .transform((raw, ctx): Record<string, RegionStoreSpec> => {
      if (raw === undefined || raw.trim() === '') return {};
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'must be JSON, for example {"eu-west-1":{"kind":"file","dir":"/backups/eu"}}',
        });
        return z.NEVER;
      }
      const parsed = z.record(z.string(), RegionStoreSpec).safeParse(value);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          ctx.addIssue({ code: 'custom', message: `${issue.path.join('.') || '(root)'}: ${issue.message}` });
        }
        return z.NEVER;
      }
      return parsed.data;
    })
    .describe(
      'Each region\'s own backup store as JSON, region -> {"kind":"file","dir":...} | {"kind":"nats","bucket":...} | {"kind":"s3","bucket":...,"prefix","region","endpoint","forcePathStyle"}; a region not named gets one from BACKUP_STORE: <BACKUP_DIR>/<region>, the bucket ttm-backups-<region>, or the prefix <BACKUP_S3_PREFIX><region>/ (empty: none named)',
    ),
  BACKUP_WINDOW: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      try {
        return parseBackupWindow(raw);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .describe(
      'UTC window of the nightly fleet backup, such as 01:00-05:00 (may pass midnight; HH:MM:SS also taken): tenants of plans backed up daily are backed up once in each window, spread over it (empty: at their daily slot)',
    ),
  BACKUP_DIR: z
    .string()
    .min(1)
    .default('./.data/backups')
    .describe('Directory of the artifacts when BACKUP_STORE=file: each region in its own subdirectory'),
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
  BACKUP_ENCRYPTION: portEnv
    .flag(true)
    .describe(
      'Encrypt new artifacts (AES-256-GCM, a data key per backup wrapped by TTM_KEK); encrypted and unencrypted ones are restorable either way',
    ),
  BACKUP_S3_SSE: z
    .enum(['none', 'AES256', 'aws:kms'])
    .default('AES256')
    .describe('Server-side encryption S3 applies to uploaded artifacts (aws:kms takes BACKUP_S3_KMS_KEY_ID)'),
  BACKUP_S3_KMS_KEY_ID: z
    .string()
    .optional()
    .describe("KMS key of BACKUP_S3_SSE=aws:kms (empty: the bucket's default aws/s3 key)"),
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
  BACKUP_NEW_TENANT_GRACE: portEnv
    .duration('10m')
    .describe(
      'A tenant is not due a scheduled backup until this long after the scheduler first saw it (a burst of registrations brings no burst of backups); 0: at once',
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
  IDLE_ARCHIVE_SWEEP_EVERY: portEnv
    .duration('1h')
    .describe(
      "How often the backup service archives tenants idle (no sign-in or API call) past their plan's PLANS[].archiveIdleDays (0 turns idle archiving off)",
    ),
  IDLE_ARCHIVE_MAX_PER_SWEEP: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000)
    .default(20)
    .describe(
      'Idle tenants one sweep asks to archive at most (the rest wait for the next sweep): bounds the archive rate',
    ),
  IDLE_ARCHIVE_RETRY_AFTER: portEnv
    .duration('24h')
    .describe(
      'An idle tenant whose archive was asked for and that is still active (refused: frozen by a migration, a failed backup) is asked again after this long',
    ),
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
    const regions = (config.REGIONS ?? []).map((r) => r.name);
    const stores = config.BACKUP_STORES ?? {};
    const uncovered = regions.filter((r) => !stores[r]);
    if (config.BACKUP_STORE === 's3' && !config.BACKUP_S3_BUCKET && uncovered.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['BACKUP_S3_BUCKET'],
        message: `required when BACKUP_STORE=s3 and BACKUP_STORES names no store for ${uncovered.join(', ')}`,
      });
    }
    for (const region of Object.keys(stores)) {
      if (regions.length > 0 && !regions.includes(region)) {
        ctx.addIssue({
          code: 'custom',
          path: ['BACKUP_STORES'],
          message: `names region ${region}, which is not in REGIONS (${regions.join(', ')})`,
        });
      }
    }
  },
  // Checked even when other variables are bad, so every problem is named at once.
  { when: () => true },
);
export type BackupConfig = z.output<typeof backupEnv>;
