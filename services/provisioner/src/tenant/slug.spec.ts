import { describe, expect, it } from 'vitest';
import { baseSlug, isValidSlug, RESERVED_SLUGS, slugCandidate } from './slug.js';

describe('baseSlug', () => {
  it.each([
    ['Acme Corp', 'acme-corp'],
    ['  Ünïcödé Straße GmbH ', 'unicode-strasse-gmbh'],
    ["O'Reilly & Sons; DROP TABLE x", 'o-reilly-sons-drop-table-x'],
    ['A', 'a-ws'],
    ['日本語', 'org-ws'],
    ['www', 'www-ws'],
    ['x'.repeat(80), 'x'.repeat(30)],
    ['abc-'.repeat(20), 'abc-abc-abc-abc-abc-abc-abc-ab'],
  ])('%s -> %s', (name, slug) => {
    expect(baseSlug(name)).toBe(slug);
    expect(isValidSlug(baseSlug(name))).toBe(true);
  });
});

describe('slugCandidate', () => {
  it('suffixes and stays within the rules', () => {
    const base = 'y'.repeat(30);
    expect(slugCandidate('acme', 0, () => 'r')).toBe('acme');
    expect(slugCandidate('acme', 1, () => 'r')).toBe('acme-2');
    expect(slugCandidate(base, 3, () => 'r')).toBe(`${'y'.repeat(28)}-4`);
    const random = slugCandidate(base, 9, () => 'k3x9q');
    expect(random).toBe(`${'y'.repeat(24)}-k3x9q`);
    for (const s of [random, slugCandidate(base, 2, () => 'r')]) expect(isValidSlug(s)).toBe(true);
  });

  it('refuses reserved and malformed slugs', () => {
    for (const reserved of RESERVED_SLUGS) expect(isValidSlug(reserved)).toBe(false);
    for (const bad of ['ab', '-abc', 'abc-', 'ABC', 'a_b_c', 'a'.repeat(31)]) expect(isValidSlug(bad)).toBe(false);
  });
});
