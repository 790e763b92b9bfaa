import type pg from 'pg';
import { insertRows, type TableRef } from './canonicalRows.js';
import { type ArtifactHeader, ArtifactUnreadable, readArtifact } from './format.js';

export interface LoadedArtifact {
  header: ArtifactHeader;
  /** The tenant's core rows by table, kept in memory (a handful of rows) for the caller to place. */
  core: Map<string, string[]>;
  /** Every table of the artifact, in order. */
  tables: TableRef[];
  rows: number;
}

/**
 * Stream an artifact into the database inside the caller's transaction: workspace rows go
 * into the table `workspaceTable` names (in batches, as they are read), core rows are
 * collected and returned. Throws ArtifactUnreadable if the artifact is not whole.
 */
export async function loadArtifact(
  client: pg.ClientBase,
  chunks: AsyncIterable<Uint8Array>,
  options: {
    batchRows: number;
    /** The qualified table a workspace table's rows go to; throw to refuse a table. */
    workspaceTable: (name: string) => string;
    /** Called once the header is read, before any row is loaded. */
    onHeader?: (header: ArtifactHeader) => void | Promise<void>;
  },
): Promise<LoadedArtifact> {
  let header: ArtifactHeader | undefined;
  const core = new Map<string, string[]>();
  const tables: TableRef[] = [];
  let rows = 0;
  let ended = false;
  for await (const item of readArtifact(chunks, options.batchRows)) {
    switch (item.type) {
      case 'header':
        header = item.header;
        await options.onHeader?.(header);
        break;
      case 'table':
        tables.push(item.table);
        if (item.table.scope === 'core') core.set(item.table.name, []);
        else options.workspaceTable(item.table.name);
        break;
      case 'rows':
        rows += item.rows.length;
        if (item.table.scope === 'core') core.get(item.table.name)?.push(...item.rows);
        else await insertRows(client, options.workspaceTable(item.table.name), item.rows);
        break;
      case 'end':
        ended = true;
        break;
    }
  }
  if (!header || !ended) throw new ArtifactUnreadable('the artifact is cut short');
  return { header, core, tables, rows };
}
