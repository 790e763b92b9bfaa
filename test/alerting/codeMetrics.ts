import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Source text of every non-test TypeScript file under services/ and packages/. */
export function sourceText(root: string): string {
  const texts: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      if (entry === 'node_modules' || entry === 'test' || entry === 'dist') continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.spec.ts') && !path.endsWith('.test.ts')) {
        texts.push(readFileSync(path, 'utf8'));
      }
    }
  };
  for (const top of ['services', 'packages']) walk(join(root, top));
  return texts.join('\n');
}

/**
 * Whether the code registers metric `name`: spelled whole in a string literal, or built from a
 * template prefix and a literal suffix (`database_connections${suffix}` with `'_waiting'`).
 */
export function codeDefinesMetric(source: string, name: string): boolean {
  const quoted = (s: string) => [`'${s}'`, `"${s}"`, `\`${s}\``].some((q) => source.includes(q));
  if (quoted(name)) return true;
  for (let i = 1; i < name.length; i++) {
    const prefix = name.slice(0, i);
    const suffix = name.slice(i);
    if (source.includes(`\`${prefix}\${`) && quoted(suffix)) return true;
  }
  return false;
}

/** Prometheus makes these itself (scrape health); prom-client's default metrics start with process_ or nodejs_. */
export const prometheusOwnMetrics = new Set(['up', 'scrape_duration_seconds', 'ALERTS']);
export const isDefaultClientMetric = (name: string) => /^(process|nodejs)_/.test(name);
