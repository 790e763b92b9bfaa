export { type BackupStore, backupObjectPrefix, type StoredObject } from './backupStore.js';
export { EncryptingBackupStore } from './encryptingStore.js';
export { FileBackupStore } from './fileBackupStore.js';
export { NatsBackupStore } from './natsBackupStore.js';
export {
  type BackupStoreConfig,
  openRegionalStores,
  RegionalBackupStores,
  RegionStoreSpec,
  regionStoreSpecs,
} from './regionalStores.js';
export { S3BackupStore, type S3BackupStoreOptions } from './s3BackupStore.js';
