import { describe, expect, it } from 'vitest';
import { inlineParameters, PreparedStatements, StatementBatch } from './statementBatch.js';

describe('inlineParameters', () => {
  it('writes every value as a quoted literal, escaping quotes and backslashes (pg puts a space before E strings)', () => {
    expect(
      inlineParameters('UPDATE t SET a = $1, b = $2, c = $3::jsonb, d = $10 WHERE id = $4', [
        "O'Brien \\ co",
        42,
        { k: "it's" },
        null,
        5,
        6,
        7,
        8,
        9,
        true,
      ]),
    ).toBe(`UPDATE t SET a =  E'O''Brien \\\\ co', b = '42', c = '{"k":"it''s"}'::jsonb, d = 'true' WHERE id = NULL`);
  });

  it('writes dates as ISO text and arrays as array literals', () => {
    expect(inlineParameters('$1 $2', [new Date('2025-01-02T03:04:05.000Z'), ['a', 'b"c', null]])).toBe(
      `'2025-01-02T03:04:05.000Z'  E'{"a","b\\\\"c",NULL}'`,
    );
  });

  it('refuses a placeholder without a value', () => {
    expect(() => inlineParameters('SELECT $2', [1])).toThrow('$2 has no value');
  });
});

describe('StatementBatch', () => {
  it('records the queries of its client and answers them with no rows', async () => {
    const batch = new StatementBatch();
    const result = await batch.client.query('INSERT INTO t VALUES ($1)', ['x']);
    expect(result.rows).toEqual([]);
    expect(batch.size).toBe(1);
    expect(batch.text('COMMIT')).toBe("INSERT INTO t VALUES ('x');\nCOMMIT");
  });
});

describe('StatementBatch with prepared statements', () => {
  it('prepares a statement the first time, then only executes it, until forgotten', async () => {
    const prepared = new PreparedStatements();
    const first = new StatementBatch(prepared);
    await first.client.query('UPDATE t SET a = $2 WHERE id = $1', ['x', 1]);
    await first.client.query('UPDATE t SET a = $2 WHERE id = $1', ['y', 2]);
    expect(first.text()).toBe(
      "PREPARE ttm_projection_1 AS UPDATE t SET a = $2 WHERE id = $1;\nEXECUTE ttm_projection_1('x', '1');\nEXECUTE ttm_projection_1('y', '2')",
    );
    prepared.confirm();
    const second = new StatementBatch(prepared);
    await second.client.query('UPDATE t SET a = $2 WHERE id = $1', ['z', 3]);
    expect(second.text()).toBe("EXECUTE ttm_projection_1('z', '3')");
    prepared.forget();
    const third = new StatementBatch(prepared);
    await third.client.query('UPDATE t SET a = $2 WHERE id = $1', ['z', 3]);
    expect(third.text()).toMatch(/^PREPARE ttm_projection_2 AS /);
  });
});
