import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeCursor, encodeCursor } from './cursor.js';

const Key = z.tuple([z.iso.datetime(), z.uuid()]);

describe('keyset cursors', () => {
  it('round-trips a sort key as url-safe text', () => {
    const key = ['2025-05-01T10:00:00.123456Z', '6f1c1a4e-5b7d-4c1e-9a7b-0d1e2f3a4b5c'] as const;
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, Key)).toEqual(key);
  });

  it.each([
    ['not base64 json', 'x'],
    ['the wrong shape', encodeCursor([1, 2])],
    ['a bad id', encodeCursor(['2025-05-01T10:00:00Z', "'; DROP TABLE tenants; --"])],
  ])('refuses %s with a 400 problem', (_label, cursor) => {
    expect(() => decodeCursor(cursor, Key)).toThrow(
      expect.objectContaining({ statusCode: 400, code: 'TTM_INVALID_CURSOR' }),
    );
  });
});
