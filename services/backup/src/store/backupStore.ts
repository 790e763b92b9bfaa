import type { Readable } from 'node:stream';

/** An artifact as a store lists it. */
export interface StoredObject {
  name: string;
  size: number;
  modified: Date;
}

/**
 * Where backup artifacts live. Names look like `<tenantId>/<backupId>/<attempt>.ttmb.gz`.
 * `put` makes an object visible only once it is whole (a crash mid-write leaves nothing a
 * `get` or `list` returns under that name), and replaces an object of the same name.
 */
export interface BackupStore {
  readonly kind: 'nats' | 'file' | 's3';
  put(name: string, data: Readable): Promise<StoredObject>;
  /** The object's bytes; undefined if there is no such object. Throws mid-stream if it is damaged. */
  get(name: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** True if there was an object to delete. */
  delete(name: string): Promise<boolean>;
  list(prefix?: string): Promise<StoredObject[]>;
}

/** Object names of one backup, whatever attempt wrote them. */
export const backupObjectPrefix = (tenantId: string, backupId: string) => `${tenantId}/${backupId}/`;
