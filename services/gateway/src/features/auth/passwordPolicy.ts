import { dictionary } from '@zxcvbn-ts/language-common';

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 128;

const characterClasses: readonly [name: string, pattern: RegExp][] = [
  ['lowercase letters', /\p{Ll}/u],
  ['uppercase letters', /\p{Lu}/u],
  ['digits', /\p{N}/u],
  ['symbols or other characters', /[^\p{Ll}\p{Lu}\p{N}]/u],
];

/** The common-password list zxcvbn-ts maintains (about 49,000 leaked passwords, lowercase). */
const commonPasswords = new Set<string>(dictionary['passwords-common'] as string[]);

/**
 * Why a password is too weak to protect an organization admin, or [] when it is fine:
 * 10-128 characters (counted as characters, not UTF-16 units), at least two kinds of
 * character (lowercase, uppercase, digits, anything else), not the email itself, and not one of
 * the most common passwords (compared case-insensitively).
 */
export function passwordWeaknesses(password: string, email: string): string[] {
  const reasons: string[] = [];
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) reasons.push(`it has ${length} characters; use at least ${PASSWORD_MIN_LENGTH}`);
  if (length > PASSWORD_MAX_LENGTH) reasons.push(`it has ${length} characters; use at most ${PASSWORD_MAX_LENGTH}`);
  const kinds = characterClasses.filter(([, pattern]) => pattern.test(password));
  if (password.length > 0 && kinds.length < 2) {
    reasons.push(
      `it uses only ${kinds[0]?.[0] ?? 'one kind of character'}; mix in letters of another case, digits or symbols`,
    );
  }
  if (password.trim().toLowerCase() === email.trim().toLowerCase()) reasons.push('it is the same as admin_email');
  if (commonPasswords.has(password.trim().toLowerCase())) reasons.push('it is one of the most common passwords');
  return reasons;
}
