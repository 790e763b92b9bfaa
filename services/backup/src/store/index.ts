import { Objm } from '@nats-io/obj';
import { ObjectStores } from '@ttm/contracts';
import type { NatsConnection } from '@ttm/service-kit';
import type { BackupStore } from './backupStore.js';
import { FileBackupStore } from './fileBackupStore.js';
import { NatsBackupStore } from './natsBackupStore.js';

export { type BackupStore, backupObjectPrefix, type StoredObject } from './backupStore.js';
export { FileBackupStore } from './fileBackupStore.js';
export { NatsBackupStore } from './natsBackupStore.js';

/** The store `BACKUP_STORE` names: the NATS object store bucket (default) or a directory. */
export async function openBackupStore(
  config: { BACKUP_STORE: 'nats' | 'file'; BACKUP_DIR: string },
  nc: NatsConnection,
): Promise<BackupStore> {
  if (config.BACKUP_STORE === 'file') return new FileBackupStore(config.BACKUP_DIR);
  return new NatsBackupStore(await new Objm(nc).open(ObjectStores.backups));
}
