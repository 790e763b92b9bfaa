import { describe, expect, it } from 'vitest';
import { canonicalJson, derivedUuid, fingerprintOf, parseIdempotencyKey } from './idempotency.js';

describe('parseIdempotencyKey', () => {
  it('is undefined without the header', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
  });

  it.each([
    ['a bare token', '8e03978e-40d5-43e8-bc93-6894a57f9324', '8e03978e-40d5-43e8-bc93-6894a57f9324'],
    ['an sf-string', '"order-1"', 'order-1'],
    ['an sf-string with an escaped quote', '"a\\"b"', 'a"b'],
    ['surrounding spaces', '  key-1  ', 'key-1'],
  ])('reads %s', (_label, header, key) => {
    expect(parseIdempotencyKey(header)).toBe(key);
  });

  it.each([
    ['an empty value', ''],
    ['an empty sf-string', '""'],
    ['inner spaces', 'two words'],
    ['non-ASCII', 'clé'],
    ['256 characters', 'k'.repeat(256)],
  ])('refuses %s', (_label, header) => {
    expect(parseIdempotencyKey(header)).toBeNull();
  });

  it('refuses the header sent twice', () => {
    expect(parseIdempotencyKey(['a', 'b'])).toBeNull();
  });
});

describe('canonicalJson and fingerprintOf', () => {
  it('ignores key order at every level', () => {
    const a = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: null } };
    const b = { a: { x: null, y: [1, { p: 2, q: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"x":null,"y":[1,{"p":2,"q":1}]},"b":1}');
    expect(fingerprintOf(a)).toBe(fingerprintOf(b));
  });

  it('tells apart values that differ anywhere', () => {
    expect(fingerprintOf({ a: [1, 2] })).not.toBe(fingerprintOf({ a: [2, 1] }));
    expect(fingerprintOf({ a: '1' })).not.toBe(fingerprintOf({ a: 1 }));
    expect(fingerprintOf({ password: 'x' })).not.toBe(fingerprintOf({ password: 'y' }));
  });
});

describe('derivedUuid', () => {
  it('is a stable RFC 9562 version-8 uuid of its inputs', () => {
    const id = derivedUuid('tenant', 'key-1', 'abc');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(derivedUuid('tenant', 'key-1', 'abc')).toBe(id);
    expect(derivedUuid('provisioning', 'key-1', 'abc')).not.toBe(id);
    // Parts are separated, so moving text between them changes the id.
    expect(derivedUuid('tenant', 'key-1a', 'bc')).not.toBe(id);
  });
});
