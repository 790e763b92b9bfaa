import type { Readable } from 'node:stream';
import { Readable as NodeReadable } from 'node:stream';
import type { ObjectStore } from '@nats-io/obj';
import type { BackupStore, StoredObject } from './backupStore.js';

/** Artifacts in a NATS object store bucket (`ttm-backups`): chunked, digest-checked on read. */
export class NatsBackupStore implements BackupStore {
  readonly kind = 'nats';

  constructor(private readonly bucket: ObjectStore) {}

  async put(name: string, data: Readable): Promise<StoredObject> {
    const info = await this.bucket.put({ name }, NodeReadable.toWeb(data) as ReadableStream<Uint8Array>);
    return { name, size: info.size, modified: new Date(info.mtime) };
  }

  async get(name: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const result = await this.bucket.get(name);
    if (!result) return undefined;
    return (async function* () {
      for await (const chunk of result.data as unknown as AsyncIterable<Uint8Array>) yield chunk;
      // The client compares the sha-256 digest once the last chunk is read.
      const error = await result.error;
      if (error) throw new Error(`object ${name} is damaged: ${error.message}`);
    })();
  }

  async delete(name: string): Promise<boolean> {
    const info = await this.bucket.info(name);
    if (!info || info.deleted) return false;
    await this.bucket.delete(name);
    return true;
  }

  async list(prefix = ''): Promise<StoredObject[]> {
    const all = await this.bucket.list();
    return all
      .filter((info) => !info.deleted && info.name.startsWith(prefix))
      .map((info) => ({ name: info.name, size: info.size, modified: new Date(info.mtime) }));
  }
}
