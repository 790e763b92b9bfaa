import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { Objm } from '@nats-io/obj';
import { backupBucketOf } from '@ttm/contracts';
import type { NatsConnection } from '@ttm/service-kit';
import { z } from 'zod';
import type { BackupStore } from './backupStore.js';
import { FileBackupStore } from './fileBackupStore.js';
import { NatsBackupStore } from './natsBackupStore.js';
import { S3BackupStore } from './s3BackupStore.js';

/** One region's store, as `BACKUP_STORES` names it. */
export const RegionStoreSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file'), dir: z.string().min(1) }).strict(),
  z
    .object({
      kind: z.literal('nats'),
      bucket: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 of A-Z, a-z, 0-9, _ and -'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('s3'),
      bucket: z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 of a-z, 0-9, dots and hyphens)'),
      prefix: z
        .string()
        .default('')
        .refine((v) => v === '' || (v.endsWith('/') && !v.startsWith('/')), 'must end with / and not start with one'),
      region: z
        .string()
        .regex(/^[a-z0-9-]+$/)
        .optional(),
      endpoint: z.string().url().optional(),
      forcePathStyle: z.boolean().default(false),
    })
    .strict(),
]);
export type RegionStoreSpec = z.output<typeof RegionStoreSpec>;

export interface BackupStoreConfig {
  BACKUP_STORE: 'nats' | 'file' | 's3';
  BACKUP_STORES: Record<string, RegionStoreSpec>;
  BACKUP_DIR: string;
  BACKUP_S3_BUCKET?: string | undefined;
  BACKUP_S3_PREFIX: string;
  BACKUP_S3_ENDPOINT?: string | undefined;
  BACKUP_S3_REGION?: string | undefined;
  BACKUP_S3_FORCE_PATH_STYLE: boolean;
  BACKUP_S3_SSE: 'none' | 'AES256' | 'aws:kms';
  BACKUP_S3_KMS_KEY_ID?: string | undefined;
}

/**
 * Where each region's store is: its `BACKUP_STORES` entry, else one derived from
 * `BACKUP_STORE` so regions never share a place: the directory `<BACKUP_DIR>/<region>`, the
 * object store bucket `ttm-backups-<region>`, or (S3, one bucket) the prefix
 * `<BACKUP_S3_PREFIX><region>/`. Pure.
 */
export function regionStoreSpecs(config: BackupStoreConfig, regions: readonly string[]): Map<string, RegionStoreSpec> {
  const unknown = Object.keys(config.BACKUP_STORES).filter((r) => !regions.includes(r));
  if (unknown.length > 0) {
    throw new Error(
      `BACKUP_STORES names regions that are not in REGIONS: ${unknown.join(', ')} (REGIONS: ${regions.join(', ')})`,
    );
  }
  const specs = new Map<string, RegionStoreSpec>();
  for (const region of regions) {
    const own = config.BACKUP_STORES[region];
    if (own) {
      specs.set(region, own);
      continue;
    }
    if (config.BACKUP_STORE === 'file') specs.set(region, { kind: 'file', dir: join(config.BACKUP_DIR, region) });
    else if (config.BACKUP_STORE === 'nats') specs.set(region, { kind: 'nats', bucket: backupBucketOf(region) });
    else {
      if (!config.BACKUP_S3_BUCKET) {
        throw new Error(
          `BACKUP_S3_BUCKET is required when BACKUP_STORE=s3 and BACKUP_STORES has no entry for ${region}`,
        );
      }
      specs.set(region, {
        kind: 's3',
        bucket: config.BACKUP_S3_BUCKET,
        prefix: `${config.BACKUP_S3_PREFIX}${region}/`,
        ...(config.BACKUP_S3_REGION ? { region: config.BACKUP_S3_REGION } : {}),
        ...(config.BACKUP_S3_ENDPOINT ? { endpoint: config.BACKUP_S3_ENDPOINT } : {}),
        forcePathStyle: config.BACKUP_S3_FORCE_PATH_STYLE,
      });
    }
  }
  const places = new Map<string, string>();
  for (const [region, spec] of specs) {
    const place = placeOf(spec);
    const other = places.get(place);
    if (other) throw new Error(`BACKUP_STORES: regions ${other} and ${region} would share the store ${place}`);
    places.set(place, region);
  }
  return specs;
}

/** What makes two stores the same place (to refuse two regions sharing one). */
function placeOf(spec: RegionStoreSpec): string {
  if (spec.kind === 'file') return `file:${spec.dir}`;
  if (spec.kind === 'nats') return `nats:${spec.bucket}`;
  return `s3:${spec.endpoint ?? ''}:${spec.bucket}:${spec.prefix}`;
}

/** A region's backups never leave its store: the backup's placement region picks the store. */
export class RegionalBackupStores {
  constructor(
    private readonly byRegion: ReadonlyMap<string, BackupStore>,
    /** What close() closes: the stores as opened, before any wrapping (S3 clients). */
    private readonly opened: readonly BackupStore[] = [...byRegion.values()],
  ) {}

  /** The store of `region`; throws for a region with none (not in REGIONS). */
  of(region: string): BackupStore {
    const store = this.byRegion.get(region);
    if (!store) throw new Error(`no backup store for region ${region}: it is not one of REGIONS`);
    return store;
  }

  entries(): [string, BackupStore][] {
    return [...this.byRegion];
  }

  /** Each region and what kind of store it has, for the start-up log. */
  describe(): Record<string, string> {
    return Object.fromEntries([...this.byRegion].map(([region, store]) => [region, store.kind]));
  }

  close(): void {
    for (const store of this.opened) if (store instanceof S3BackupStore) store.close();
  }
}

/**
 * Open every region's store (an S3 bucket is checked, a NATS bucket made if missing). `wrap`
 * layers each one (the service wraps them in an EncryptingBackupStore).
 */
export async function openRegionalStores(
  config: BackupStoreConfig & { NATS_STREAM_REPLICAS: number },
  regions: readonly string[],
  nc: NatsConnection,
  wrap: (store: BackupStore) => BackupStore = (store) => store,
): Promise<RegionalBackupStores> {
  const opened = new Map<string, BackupStore>();
  try {
    for (const [region, spec] of regionStoreSpecs(config, regions)) {
      opened.set(region, await openStore(spec, region, config, nc));
    }
  } catch (error) {
    new RegionalBackupStores(opened).close();
    throw error;
  }
  const wrapped = new Map([...opened].map(([region, store]) => [region, wrap(store)] as const));
  return new RegionalBackupStores(wrapped, [...opened.values()]);
}

async function openStore(
  spec: RegionStoreSpec,
  region: string,
  config: Pick<BackupStoreConfig, 'BACKUP_S3_SSE' | 'BACKUP_S3_KMS_KEY_ID'> & { NATS_STREAM_REPLICAS: number },
  nc: NatsConnection,
): Promise<BackupStore> {
  const replicas = config.NATS_STREAM_REPLICAS;
  if (spec.kind === 'file') return new FileBackupStore(spec.dir);
  if (spec.kind === 'nats') {
    const objm = new Objm(nc);
    const bucket = await objm
      .open(spec.bucket)
      .catch(() => objm.create(spec.bucket, { description: `Tenant backup artifacts of region ${region}`, replicas }));
    return new NatsBackupStore(bucket);
  }
  // Credentials and anything not set here come from the standard AWS chain (AWS_* variables,
  // ~/.aws profiles, web identity, instance or container roles).
  const client = new S3Client({
    ...(spec.region ? { region: spec.region } : {}),
    ...(spec.endpoint ? { endpoint: spec.endpoint } : {}),
    forcePathStyle: spec.forcePathStyle,
  });
  const store = new S3BackupStore(client, {
    bucket: spec.bucket,
    prefix: spec.prefix,
    serverSideEncryption: config.BACKUP_S3_SSE === 'none' ? undefined : config.BACKUP_S3_SSE,
    kmsKeyId: config.BACKUP_S3_KMS_KEY_ID,
  });
  try {
    await store.check();
  } catch (error) {
    store.close();
    throw new Error(`backup store of region ${region}: ${(error as Error).message}`, { cause: error });
  }
  return store;
}
