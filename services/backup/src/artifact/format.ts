import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { TableRef } from './canonicalRows.js';

/**
 * The artifact: gzipped lines. First `TTMB/1 {header}`, then for each table a `#table {ref}`
 * line followed by its rows (one canonical JSON row per line; a row never starts with `#`),
 * and last `#eof {tables, rows}`: an artifact without it was cut short.
 */
export const ARTIFACT_MAGIC = 'TTMB/1';

export interface ArtifactHeader {
  backupId: string;
  tenantId: string;
  schema: string;
  schemaVersion: number;
  snapshotAt: string;
}

export const headerLine = (header: ArtifactHeader) => `${ARTIFACT_MAGIC} ${JSON.stringify(header)}\n`;
export const tableLine = (table: TableRef) => `#table ${JSON.stringify({ scope: table.scope, name: table.name })}\n`;
export const eofLine = (tables: number, rows: number) => `#eof ${JSON.stringify({ tables, rows })}\n`;

/** The artifact cannot be read: not ours, damaged or cut short. */
export class ArtifactUnreadable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ArtifactUnreadable';
  }
}

export type ArtifactItem =
  | { type: 'header'; header: ArtifactHeader }
  /** The start of a table; its rows follow in `rows` batches. */
  | { type: 'table'; table: TableRef }
  | { type: 'rows'; table: TableRef; rows: string[] }
  | { type: 'end'; tables: number; rows: number };

/**
 * Read an artifact back: gunzip, split lines, and hand out rows in batches of at most
 * `batchRows` rows (or about 4 MB). Throws ArtifactUnreadable for anything that is not a
 * whole artifact.
 */
export async function* readArtifact(
  chunks: AsyncIterable<Uint8Array>,
  batchRows: number,
): AsyncGenerator<ArtifactItem> {
  const gunzip = createGunzip();
  const input = Readable.from(chunks);
  input.on('error', (error) => gunzip.destroy(error));
  input.pipe(gunzip);

  let state: 'header' | 'body' | 'done' = 'header';
  let table: TableRef | undefined;
  let batch: string[] = [];
  let batchBytes = 0;
  let tables = 0;
  let rows = 0;
  const pending: ArtifactItem[] = [];
  const ended = () => state === 'done';

  const flush = () => {
    if (table && batch.length > 0) pending.push({ type: 'rows', table, rows: batch });
    batch = [];
    batchBytes = 0;
  };
  const line = (text: string) => {
    if (state === 'done') throw new ArtifactUnreadable('the artifact goes on after its end marker');
    if (state === 'header') {
      if (!text.startsWith(`${ARTIFACT_MAGIC} `))
        throw new ArtifactUnreadable('not a tenant backup (no TTMB/1 header)');
      pending.push({ type: 'header', header: parseJson(text.slice(ARTIFACT_MAGIC.length + 1)) as ArtifactHeader });
      state = 'body';
      return;
    }
    if (text.startsWith('#table ')) {
      flush();
      const ref = parseJson(text.slice(7)) as TableRef;
      if ((ref.scope !== 'workspace' && ref.scope !== 'core') || typeof ref.name !== 'string') {
        throw new ArtifactUnreadable(`bad table marker: ${text.slice(0, 200)}`);
      }
      table = { scope: ref.scope, name: ref.name };
      tables++;
      pending.push({ type: 'table', table });
      return;
    }
    if (text.startsWith('#eof ')) {
      flush();
      const end = parseJson(text.slice(5)) as { tables: number; rows: number };
      if (end.tables !== tables || end.rows !== rows) {
        throw new ArtifactUnreadable(
          `end marker says ${end.tables} tables and ${end.rows} rows, the artifact holds ${tables} and ${rows}`,
        );
      }
      pending.push({ type: 'end', tables, rows });
      state = 'done';
      return;
    }
    if (!table || !text.startsWith('{')) throw new ArtifactUnreadable(`unexpected line: ${text.slice(0, 200)}`);
    batch.push(text);
    batchBytes += text.length;
    rows++;
    if (batch.length >= batchRows || batchBytes >= 4_000_000) flush();
  };

  let carry: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
        line(data.toString('utf8', start, nl));
        start = nl + 1;
      }
      carry = data.subarray(start);
      data = Buffer.alloc(0);
      while (pending.length > 0) yield pending.shift()!;
    }
  } catch (error) {
    if (error instanceof ArtifactUnreadable) throw error;
    throw new ArtifactUnreadable(`the artifact cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (carry.length > 0) line(carry.toString('utf8'));
  while (pending.length > 0) yield pending.shift()!;
  if (!ended()) throw new ArtifactUnreadable('the artifact is cut short (no end marker)');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ArtifactUnreadable(`bad JSON in a marker line: ${text.slice(0, 200)}`);
  }
}
