import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type ArtifactItem, eofLine, headerLine, readArtifact, tableLine } from './format.js';

const header = {
  backupId: '7e1d2c3b-4a59-4f68-8a7b-9c0d1e2f3a4b',
  tenantId: '0b7c4a52-6f1e-4c1a-9d3e-2f5a8b9c0d1e',
  schema: 'workspace_x',
  schemaVersion: 1,
  snapshotAt: '2025-03-01T02:00:00.000Z',
};

async function read(text: string, batchRows = 2, chunk = 7): Promise<ArtifactItem[]> {
  const zipped = gzipSync(text);
  const chunks = Array.from({ length: Math.ceil(zipped.length / chunk) }, (_, i) =>
    zipped.subarray(i * chunk, (i + 1) * chunk),
  );
  const items: ArtifactItem[] = [];
  for await (const item of readArtifact(Readable.from(chunks), batchRows)) items.push(item);
  return items;
}

const whole =
  headerLine(header) +
  tableLine({ scope: 'core', name: 'workspace' }) +
  '{"id":"a","name":"Ünïcödé \\n line"}\n' +
  tableLine({ scope: 'workspace', name: 'company' }) +
  '{"id":1}\n{"id":2}\n{"id":3}\n' +
  tableLine({ scope: 'workspace', name: 'note' }) +
  eofLine(3, 4);

describe('artifact format', () => {
  it('reads back tables and rows in batches, across any chunking', async () => {
    const items = await read(whole);
    expect(items).toEqual([
      { type: 'header', header },
      { type: 'table', table: { scope: 'core', name: 'workspace' } },
      { type: 'rows', table: { scope: 'core', name: 'workspace' }, rows: ['{"id":"a","name":"Ünïcödé \\n line"}'] },
      { type: 'table', table: { scope: 'workspace', name: 'company' } },
      { type: 'rows', table: { scope: 'workspace', name: 'company' }, rows: ['{"id":1}', '{"id":2}'] },
      { type: 'rows', table: { scope: 'workspace', name: 'company' }, rows: ['{"id":3}'] },
      { type: 'table', table: { scope: 'workspace', name: 'note' } },
      { type: 'end', tables: 3, rows: 4 },
    ]);
    expect(await read(whole, 1000, 1)).toHaveLength(7);
  });

  it('refuses an artifact cut short, one whose end marker disagrees, and one that is not ours', async () => {
    await expect(read(whole.slice(0, whole.indexOf('#table {"scope":"workspace","name":"note"')))).rejects.toThrow(
      /cut short/,
    );
    await expect(read(whole.replace('#eof {"tables":3,"rows":4}', '#eof {"tables":3,"rows":5}'))).rejects.toThrow(
      /end marker says/,
    );
    await expect(read('PK\u0003\u0004 zip\n')).rejects.toThrow(/not a tenant backup/);
    const notGzip = Readable.from([Buffer.from('plain text')]);
    await expect(
      (async () => {
        for await (const _ of readArtifact(notGzip, 10));
      })(),
    ).rejects.toThrow(/cannot be read/);
  });
});
