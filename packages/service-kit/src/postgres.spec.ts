import { describe, expect, it } from 'vitest';
import { isTransientDatabaseError } from './postgres.js';

const pgError = (code: string) => Object.assign(new Error(`SQLSTATE ${code}`), { code });

describe('isTransientDatabaseError: SQLSTATEs', () => {
  it.each(['08006', '08001', '53300', '53100', '57P01', '57P02', '57P03', '40001', '40P01'])('retries %s', (code) => {
    expect(isTransientDatabaseError(pgError(code))).toBe(true);
  });
  it.each(['23505', '42P01', '42601', '57014', '22001'])('does not retry %s', (code) => {
    expect(isTransientDatabaseError(pgError(code))).toBe(false);
  });
});

describe('isTransientDatabaseError', () => {
  it('reads the SQLSTATE of a pg error', () => {
    expect(
      isTransientDatabaseError(Object.assign(new Error('sorry, too many clients already'), { code: '53300' })),
    ).toBe(true);
    expect(isTransientDatabaseError(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
  });
  it('retries sockets that could not connect and pg connection timeouts', () => {
    expect(isTransientDatabaseError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransientDatabaseError(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isTransientDatabaseError(new Error('Connection terminated unexpectedly'))).toBe(true);
  });
  it('retries an error that declares itself transient, and nothing else', () => {
    expect(isTransientDatabaseError(Object.assign(new Error('budget'), { transient: true }))).toBe(true);
    expect(isTransientDatabaseError(new Error('plan gold is not configured'))).toBe(false);
    expect(isTransientDatabaseError('53300')).toBe(false);
  });
});
