import { S3Client } from '@aws-sdk/client-s3';
import { Objm } from '@nats-io/obj';
import { ObjectStores } from '@ttm/contracts';
import type { NatsConnection } from '@ttm/service-kit';
import type { BackupStore } from './backupStore.js';
import { FileBackupStore } from './fileBackupStore.js';
import { NatsBackupStore } from './natsBackupStore.js';
import { S3BackupStore } from './s3BackupStore.js';

export { type BackupStore, backupObjectPrefix, type StoredObject } from './backupStore.js';
export { EncryptingBackupStore } from './encryptingStore.js';
export { FileBackupStore } from './fileBackupStore.js';
export { NatsBackupStore } from './natsBackupStore.js';
export { S3BackupStore, type S3BackupStoreOptions } from './s3BackupStore.js';

export interface BackupStoreConfig {
  BACKUP_STORE: 'nats' | 'file' | 's3';
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
 * The store `BACKUP_STORE` names: the NATS object store bucket (default), a directory, or an
 * S3 bucket (checked here, so a wrong bucket, region or credentials stop the start).
 */
export async function openBackupStore(config: BackupStoreConfig, nc: NatsConnection): Promise<BackupStore> {
  if (config.BACKUP_STORE === 'file') return new FileBackupStore(config.BACKUP_DIR);
  if (config.BACKUP_STORE === 's3') {
    if (!config.BACKUP_S3_BUCKET) throw new Error('BACKUP_S3_BUCKET is required when BACKUP_STORE=s3');
    // Credentials and anything not set here come from the standard AWS chain (AWS_* variables,
    // ~/.aws profiles, web identity, instance or container roles).
    const client = new S3Client({
      ...(config.BACKUP_S3_REGION ? { region: config.BACKUP_S3_REGION } : {}),
      ...(config.BACKUP_S3_ENDPOINT ? { endpoint: config.BACKUP_S3_ENDPOINT } : {}),
      forcePathStyle: config.BACKUP_S3_FORCE_PATH_STYLE,
    });
    const store = new S3BackupStore(client, {
      bucket: config.BACKUP_S3_BUCKET,
      prefix: config.BACKUP_S3_PREFIX,
      serverSideEncryption: config.BACKUP_S3_SSE === 'none' ? undefined : config.BACKUP_S3_SSE,
      kmsKeyId: config.BACKUP_S3_KMS_KEY_ID,
    });
    try {
      await store.check();
    } catch (error) {
      store.close();
      throw error;
    }
    return store;
  }
  return new NatsBackupStore(await new Objm(nc).open(ObjectStores.backups));
}
