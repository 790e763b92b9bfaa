import type { z } from 'zod';
import { InvalidCursor } from './features/tenants/problems.js';

/**
 * Keyset cursors: the sort key of the last row a page showed, as opaque base64url JSON.
 * Opaque to clients so the sort key can change without breaking them; checked on the way
 * back so a tampered cursor is a 400, never a query error.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursor();
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidCursor();
  return parsed.data;
}
