import pg from 'pg';

/**
 * The statements a write-only projection issues for a batch of events, gathered so that the
 * whole batch reaches PostgreSQL in one round trip instead of one per statement (on a loaded
 * machine each round trip costs milliseconds of scheduling, whatever the statement).
 * Parameters are written into the text as literals: every value becomes a quoted literal,
 * which PostgreSQL types from its context like a parameter of unknown type.
 */
export class StatementBatch {
  private readonly statements: string[] = [];

  /** A stand-in for the client `apply` receives: each query is recorded, and answers no rows. */
  readonly client: pg.PoolClient;

  constructor() {
    const record = (text: unknown, values?: unknown): Promise<pg.QueryResult> => {
      if (typeof text !== 'string') {
        return Promise.reject(new Error('a write-only projection passes its SQL as text (no query config objects)'));
      }
      this.statements.push(inlineParameters(text, Array.isArray(values) ? values : []));
      return Promise.resolve({ command: '', rowCount: 0, oid: 0, rows: [], fields: [] });
    };
    // The one cast: apply receives a client whose only usable method is query, by contract of `writesOnly`.
    this.client = { query: record } as unknown as pg.PoolClient;
  }

  get size(): number {
    return this.statements.length;
  }

  /** The recorded statements as one text, then `tail` (e.g. the checkpoint and COMMIT). */
  text(...tail: string[]): string {
    return [...this.statements, ...tail].join(';\n');
  }
}

/** `$n` placeholders replaced by the quoted literal of `values[n-1]`. */
export function inlineParameters(text: string, values: readonly unknown[]): string {
  return text.replace(/\$(\d+)/g, (placeholder, digits: string) => {
    const index = Number(digits) - 1;
    if (index < 0 || index >= values.length) {
      throw new Error(`${placeholder} has no value (${values.length} given)`);
    }
    return literal(values[index]);
  });
}

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  return pg.escapeLiteral(textOf(value));
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (Array.isArray(value)) {
    const elements = value.map((element) =>
      element === null || element === undefined
        ? 'NULL'
        : `"${textOf(element).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`,
    );
    return `{${elements.join(',')}}`;
  }
  return JSON.stringify(value);
}
