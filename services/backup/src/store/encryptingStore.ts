import { Readable } from 'node:stream';
import type { KeyEncryptionKeys } from '@ttm/service-kit';
import { decryptArtifact, encryptArtifact } from '../artifact/encryption.js';
import type { BackupStore, StoredObject } from './backupStore.js';

/**
 * A store that keeps artifacts encrypted (`artifact/encryption.ts`: AES-256-GCM, a data key per
 * artifact wrapped by the KEK) in the store it wraps. Reads decrypt and authenticate, and
 * still read the unencrypted artifacts of earlier versions. With `encryptWrites` false it only
 * reads encrypted ones (an operator turned encryption off; old encrypted backups stay restorable).
 */
export class EncryptingBackupStore implements BackupStore {
  constructor(
    private readonly inner: BackupStore,
    private readonly keys: KeyEncryptionKeys,
    private readonly encryptWrites = true,
  ) {}

  get kind(): BackupStore['kind'] {
    return this.inner.kind;
  }

  put(name: string, data: Readable): Promise<StoredObject> {
    if (!this.encryptWrites) return this.inner.put(name, data);
    const sealed = Readable.from(encryptArtifact(this.keys, data));
    data.on('error', (error) => sealed.destroy(error));
    return this.inner.put(name, sealed);
  }

  async get(name: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const chunks = await this.inner.get(name);
    return chunks && decryptArtifact(this.keys, chunks);
  }

  delete(name: string): Promise<boolean> {
    return this.inner.delete(name);
  }

  list(prefix?: string): Promise<StoredObject[]> {
    return this.inner.list(prefix);
  }
}
