import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBackupStore } from '../src/store/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ttm-backups-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function text(chunks: AsyncIterable<Uint8Array> | undefined): Promise<string | undefined> {
  if (!chunks) return undefined;
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString();
}

describe('FileBackupStore', () => {
  it('puts, replaces, lists by prefix, reads and deletes artifacts', async () => {
    const store = new FileBackupStore(dir);
    const stored = await store.put('t1/b1/a.ttmb.gz', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(stored).toMatchObject({ name: 't1/b1/a.ttmb.gz', size: 11 });
    await store.put('t1/b1/a.ttmb.gz', Readable.from([Buffer.from('replaced')]));
    await store.put('t1/b2/a.ttmb.gz', Readable.from([Buffer.from('other')]));
    expect(await text(await store.get('t1/b1/a.ttmb.gz'))).toBe('replaced');
    expect((await store.list('t1/b1/')).map((o) => o.name)).toEqual(['t1/b1/a.ttmb.gz']);
    expect((await store.list()).map((o) => o.name).sort()).toEqual(['t1/b1/a.ttmb.gz', 't1/b2/a.ttmb.gz']);
    expect(await store.delete('t1/b1/a.ttmb.gz')).toBe(true);
    expect(await store.delete('t1/b1/a.ttmb.gz')).toBe(false);
    expect(await store.get('t1/b1/a.ttmb.gz')).toBeUndefined();
  });

  it('never shows a write that died, and refuses names outside its directory', async () => {
    const store = new FileBackupStore(dir);
    const failing = new Readable({
      read() {
        this.push(Buffer.from('half'));
        this.destroy(new Error('snapshot failed'));
      },
    });
    await expect(store.put('t2/b1/a.ttmb.gz', failing)).rejects.toThrow('snapshot failed');
    expect(await store.list('t2/')).toEqual([]);
    expect(await readdir(join(dir, 't2/b1'))).toEqual([]);
    await writeFile(join(dir, 't2/b1/x.ttmb.gz.partial-dead'), 'leftover');
    expect(await store.list('t2/')).toEqual([]);
    await expect(store.put('../escape', Readable.from([Buffer.from('x')]))).rejects.toThrow(
      /leave the backup directory/,
    );
  });
});
