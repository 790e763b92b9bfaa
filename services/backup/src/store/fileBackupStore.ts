import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupStore, StoredObject } from './backupStore.js';

const PARTIAL = '.partial-';

/**
 * Artifacts as files under a directory. A write goes to a `.partial-*` file that is fsynced
 * and renamed into place, so a name only ever holds a whole artifact; leftovers of a crash
 * are never listed and are removed by the next `list` that finds them old.
 */
export class FileBackupStore implements BackupStore {
  readonly kind = 'file';
  private readonly root: string;

  constructor(directory: string) {
    this.root = resolve(directory);
  }

  async put(name: string, data: Readable): Promise<StoredObject> {
    const path = this.pathOf(name);
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}${PARTIAL}${randomBytes(4).toString('hex')}`;
    try {
      const out = createWriteStream(partial, { flush: true });
      await pipeline(data, out);
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    const info = await stat(path);
    return { name, size: info.size, modified: info.mtime };
  }

  async get(name: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const path = this.pathOf(name);
    try {
      await stat(path);
    } catch {
      return undefined;
    }
    return createReadStream(path);
  }

  async delete(name: string): Promise<boolean> {
    const path = this.pathOf(name);
    try {
      await stat(path);
    } catch {
      return false;
    }
    await rm(path, { force: true });
    return true;
  }

  async list(prefix = ''): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    let entries: string[];
    try {
      entries = await readdir(this.root, { recursive: true });
    } catch {
      return found;
    }
    for (const entry of entries) {
      const name = entry.split(sep).join('/');
      if (!name.startsWith(prefix)) continue;
      const info = await stat(join(this.root, entry)).catch(() => undefined);
      if (!info?.isFile()) continue;
      if (name.includes(PARTIAL)) {
        // A write that died: nobody renames it any more once it is this old.
        if (Date.now() - info.mtimeMs > 3_600_000) await rm(join(this.root, entry), { force: true });
        continue;
      }
      found.push({ name, size: info.size, modified: info.mtime });
    }
    return found;
  }

  private pathOf(name: string): string {
    const path = resolve(this.root, name);
    const inside = relative(this.root, path);
    if (inside.startsWith('..') || inside === '' || name.includes('\0')) {
      throw new Error(`object name "${name}" would leave the backup directory`);
    }
    return path;
  }
}
