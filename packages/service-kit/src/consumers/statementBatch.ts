import pg from 'pg';

/**
 * The statements a write-only projection issues for a batch of events, gathered so that the
 * whole batch reaches PostgreSQL in one round trip instead of one per statement (on a loaded
 * machine each round trip costs milliseconds of scheduling, whatever the statement).
 * Parameters are written into the text as literals: every value becomes a quoted literal,
 * which PostgreSQL types from its context like a parameter of unknown type. With `prepared`,
 * each distinct statement is prepared once per connection and then only EXECUTEd, which spares
 * PostgreSQL parsing and planning it again for every event.
 */
export class StatementBatch {
  private readonly statements: string[] = [];

  /** A stand-in for the client `apply` receives: each query is recorded, and answers no rows. */
  readonly client: pg.PoolClient;

  constructor(private readonly prepared?: PreparedStatements) {
    const record = (text: unknown, values?: unknown): Promise<pg.QueryResult> => {
      if (typeof text !== 'string') {
        return Promise.reject(new Error('a write-only projection passes its SQL as text (no query config objects)'));
      }
      const args = Array.isArray(values) ? values : [];
      if (!this.prepared) {
        this.statements.push(inlineParameters(text, args));
      } else {
        const { name, prepare } = this.prepared.nameOf(text);
        if (prepare) this.statements.push(prepare);
        this.statements.push(
          args.length === 0 ? `EXECUTE ${name}` : `EXECUTE ${name}(${args.map(literal).join(', ')})`,
        );
      }
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

/**
 * The statements prepared on one connection (PREPARE is not transactional, but a failed
 * transaction may not have reached it: after a failure the caller runs `DEALLOCATE ALL` and
 * calls `forget`). A name counts as prepared once the transaction that prepared it committed.
 */
export class PreparedStatements {
  private readonly names = new Map<string, string>();
  private readonly pending = new Map<string, string>();
  private next = 1;

  nameOf(text: string): { name: string; prepare?: string } {
    const known = this.names.get(text) ?? this.pending.get(text);
    if (known) return { name: known };
    const name = `ttm_projection_${this.next++}`;
    this.pending.set(text, name);
    return { name, prepare: `PREPARE ${name} AS ${text}` };
  }

  /** The transaction committed: what it prepared exists. */
  confirm(): void {
    for (const [text, name] of this.pending) this.names.set(text, name);
    this.pending.clear();
  }

  /** After `DEALLOCATE ALL`: nothing is prepared. */
  forget(): void {
    this.names.clear();
    this.pending.clear();
  }
}

const preparedByConnection = new WeakMap<pg.PoolClient, PreparedStatements>();

/** The statements prepared on this connection so far. */
export function preparedOn(client: pg.PoolClient): PreparedStatements {
  let prepared = preparedByConnection.get(client);
  if (!prepared) {
    prepared = new PreparedStatements();
    preparedByConnection.set(client, prepared);
  }
  return prepared;
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
