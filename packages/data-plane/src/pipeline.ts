import { createRequire } from 'node:module';
import pg from 'pg';

const require = createRequire(import.meta.url);
/** pg's own mapping of a JavaScript value to a parameter (Dates, Buffers, arrays, JSON), as its Query uses. */
const { prepareValue } = require('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

/** One statement of a pipeline, with its parameters. */
export interface Statement {
  text: string;
  values?: readonly unknown[];
}

/** The part of pg's connection (protocol writer) a pipeline drives. */
interface Wire {
  parse(message: { text: string; name: string; types: number[] }): void;
  bind(message: {
    portal: string;
    statement: string;
    values: readonly unknown[];
    valueMapper: typeof prepareValue;
  }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string; rows: number }): void;
  sync(): void;
  stream: { cork?: () => void; uncork?: () => void };
}

/**
 * Several statements in ONE round trip, each with its parameters: Parse/Bind/Describe/Execute
 * per statement and a single Sync at the end (the extended protocol's pipelining). PostgreSQL
 * runs them in order as one implicit transaction: it commits at the Sync when every statement
 * succeeded; when one fails, it skips the rest and rolls all of them back. Each statement still
 * takes its own snapshot (READ COMMITTED), so a statement sees what committed while an earlier
 * one of the pipeline waited for a lock.
 *
 * pg's `Query` handles the answers (rows, one result per statement, the error); only the sending
 * differs from a single statement's.
 */
class Pipeline extends pg.Query {
  constructor(private readonly statements: readonly Statement[]) {
    super({ text: statements.map((s) => s.text).join(';\n') });
  }

  override submit = (connection: unknown): void => {
    const wire = connection as Wire;
    wire.stream.cork?.();
    try {
      for (const statement of this.statements) {
        wire.parse({ text: statement.text, name: '', types: [] });
        wire.bind({ portal: '', statement: '', values: statement.values ?? [], valueMapper: prepareValue });
        wire.describe({ type: 'P', name: '' });
        wire.execute({ portal: '', rows: 0 });
      }
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
  };
}

/**
 * Run `statements` as one transaction in one round trip on `client` (which must not be inside a
 * transaction block). Resolves with one result per statement; rejects with the first failing
 * statement's error, nothing of the pipeline applied.
 */
export function runPipeline(client: pg.ClientBase, statements: readonly Statement[]): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    const pipeline = new Pipeline(statements);
    (pipeline as unknown as { callback: (error: Error | null, results: unknown) => void }).callback = (
      error,
      results,
    ) => {
      if (error) reject(error);
      else resolve(Array.isArray(results) ? (results as pg.QueryResult[]) : [results as pg.QueryResult]);
    };
    client.query(pipeline);
  });
}
