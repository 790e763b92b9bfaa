import { describe, expect, it } from 'vitest';
import { passwordWeaknesses } from './passwordPolicy.js';

const email = 'admin@acme.test';

describe('passwordWeaknesses', () => {
  it.each([
    ['mixed case and digits', 'correctHorse9'],
    ['lowercase and symbols', 'correct-horse-battery'],
    ['a passphrase with spaces', 'correct horse battery staple'],
    ['letters of two cases in another script', 'ÄpfelUndBirnen'],
    ['exactly 128 characters', `Aa${'x'.repeat(126)}`],
  ])('accepts %s', (_label, password) => {
    expect(passwordWeaknesses(password, email)).toEqual([]);
  });

  it('refuses a short password, counting characters rather than UTF-16 units', () => {
    expect(passwordWeaknesses('Sh0rt!', email)).toEqual(['it has 6 characters; use at least 10']);
    expect(passwordWeaknesses('🚀🚀🚀🚀🚀a', email)[0]).toBe('it has 6 characters; use at least 10');
  });

  it('refuses a password longer than 128 characters', () => {
    expect(passwordWeaknesses(`Aa${'x'.repeat(127)}`, email)).toEqual(['it has 129 characters; use at most 128']);
  });

  it.each([
    ['lowercase letters', 'onlylowercaseletters'],
    ['uppercase letters', 'ONLYUPPERCASELETTERS'],
    ['digits', '12345678901234'],
    ['symbols or other characters', '!!!!!!!!!!!!'],
  ])('refuses a password of only %s', (kind, password) => {
    expect(passwordWeaknesses(password, email)).toEqual([
      `it uses only ${kind}; mix in letters of another case, digits or symbols`,
    ]);
  });

  it('refuses the email itself, whatever its case', () => {
    expect(passwordWeaknesses('Admin@Acme.test', email)).toEqual(['it is the same as admin_email']);
  });
});

describe('common passwords', () => {
  it('refuses passwords from the common-password list, whatever their case', () => {
    expect(passwordWeaknesses('Password123', 'a@b.test')).toContain('it is one of the most common passwords');
    expect(passwordWeaknesses('Zebra-Kettle-42', 'a@b.test')).toEqual([]);
    expect(passwordWeaknesses('qwertyuiop', 'a@b.test')).toContain('it is one of the most common passwords');
    expect(passwordWeaknesses('correct-Horse-battery-9', 'a@b.test')).toEqual([]);
  });
});
