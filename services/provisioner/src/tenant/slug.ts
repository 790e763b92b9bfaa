/**
 * Twenty's subdomain rules: lowercase letters, digits and hyphens, 3 to 30 characters,
 * not starting or ending with a hyphen, and not one of the names the platform keeps.
 */
export const SLUG_MIN = 3;
export const SLUG_MAX = 30;

export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'admin',
  'api',
  'app',
  'apps',
  'auth',
  'billing',
  'blog',
  'cdn',
  'console',
  'dashboard',
  'default',
  'dev',
  'docs',
  'ftp',
  'help',
  'imap',
  'internal',
  'login',
  'mail',
  'metrics',
  'ns1',
  'ns2',
  'pop',
  'root',
  'smtp',
  'sso',
  'staging',
  'static',
  'status',
  'support',
  'system',
  'test',
  'twenty',
  'webmail',
  'www',
]);

/** Letters NFKD does not split into a base letter and an accent. */
const FOLDS: Record<string, string> = { ß: 'ss', æ: 'ae', ø: 'o', œ: 'oe', ł: 'l', đ: 'd', þ: 'th' };

const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export function isValidSlug(slug: string): boolean {
  return slug.length >= SLUG_MIN && slug.length <= SLUG_MAX && SLUG_PATTERN.test(slug) && !RESERVED_SLUGS.has(slug);
}

/** The preferred slug for an organization name: transliterated, lowercased, hyphenated, trimmed to 30. */
export function baseSlug(organizationName: string): string {
  let slug = organizationName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // drop the accents NFKD split off
    .toLowerCase()
    .replace(/[ßæøœłđþ]/g, (c) => FOLDS[c] ?? '-')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX)
    .replace(/-+$/g, '');
  if (slug.length < SLUG_MIN || RESERVED_SLUGS.has(slug)) slug = `${slug || 'org'}-ws`.replace(/^-/, '');
  return slug.length >= SLUG_MIN ? slug : 'workspace';
}

/**
 * The n-th candidate for a name (n = 0 is the base slug): `acme`, `acme-2`, `acme-3`, …,
 * with the base cut so the suffix always fits in 30 characters. After a few tries the
 * suffix is random so a thousand registrations of one name do not walk a long chain.
 */
export function slugCandidate(base: string, attempt: number, random: () => string): string {
  if (attempt === 0) return base;
  const suffix = attempt < 5 ? String(attempt + 1) : random();
  const head = base.slice(0, SLUG_MAX - suffix.length - 1).replace(/-+$/g, '');
  return `${head}-${suffix}`;
}
