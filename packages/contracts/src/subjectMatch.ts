/**
 * NATS subject algebra for checking the topology: does one filter cover another,
 * can two filters match the same subject. Pure string work, no I/O.
 *
 * Tokens are separated by `.`; `*` matches exactly one token and `>` (last token
 * only) matches one or more. A catalog placeholder such as `{tenantId}` stands for
 * any single token and is treated like `*`.
 */

const PLACEHOLDER = /^\{[A-Za-z][A-Za-z0-9_-]*\}$/;

/** Split a subject, filter or catalog pattern into tokens, turning `{param}` placeholders into `*`. */
export function subjectTokens(subject: string): string[] {
  return subject.split('.').map((t) => (PLACEHOLDER.test(t) ? '*' : t));
}

/** `evt.tenant.{tenantId}` -> `evt.tenant.*`: the NATS filter that matches every subject of a pattern. */
export function patternToFilter(pattern: string): string {
  return subjectTokens(pattern).join('.');
}

/** Names of the `{param}` placeholders of a catalog pattern, in order. */
export function patternParameters(pattern: string): string[] {
  return pattern
    .split('.')
    .filter((t) => PLACEHOLDER.test(t))
    .map((t) => t.slice(1, -1));
}

/** True when every subject matched by `inner` is also matched by `outer`. */
export function subjectCovers(outer: string, inner: string): boolean {
  const o = subjectTokens(outer);
  const i = subjectTokens(inner);
  for (let n = 0; n < o.length; n++) {
    const ot = o[n];
    if (ot === '>') return i.length > n;
    const it = i[n];
    if (it === undefined || it === '>') return false;
    if (ot === '*') continue;
    if (it !== ot) return false;
  }
  return o.length === i.length;
}

/** True when some subject is matched by both `a` and `b`. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = subjectTokens(a);
  const y = subjectTokens(b);
  for (let n = 0; ; n++) {
    const xt = x[n];
    const yt = y[n];
    if (xt === undefined || yt === undefined) return xt === yt;
    if (xt === '>' || yt === '>') return true;
    if (xt !== '*' && yt !== '*' && xt !== yt) return false;
  }
}

/** True when `subject` contains a wildcard (`*` or `>`) token. */
export function isWildcard(subject: string): boolean {
  return subject.split('.').some((t) => t === '*' || t === '>');
}
