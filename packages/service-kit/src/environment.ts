import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * Environment names of the seed product (its README) that still mean what one of ours means:
 * accepted in its place. The others (JWT_SECRET, REDIS_CACHE_TTL, ENABLE_METRICS, ...) have no
 * counterpart; README.md "Configuration" says what replaced each.
 */
export const seedAliases = {
  GLOBAL_DATABASE_URL: 'DATABASE_URL',
  MAX_TOTAL_CONNECTIONS: 'DATA_PLANE_CONNECTIONS_MAX',
} as const satisfies Record<string, string>;

/**
 * Read `.env` (in `dir`, the working directory by default) into `env`, once, at start and before
 * the configuration is validated. A variable already set in `env` wins over the file's. Returns
 * the names taken from the file. No file: nothing happens.
 */
export function loadDotEnv(env: NodeJS.ProcessEnv = process.env, dir = process.cwd()): string[] {
  const path = resolve(dir, '.env');
  if (!existsSync(path)) return [];
  const fromFile = parseEnv(readFileSync(path, 'utf8'));
  const taken: string[] = [];
  for (const [name, value] of Object.entries(fromFile)) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    taken.push(name);
  }
  return taken;
}

/**
 * Give each seed name's value to our name (in place). Both set to different values is a mistake
 * worth stopping for: returns one line per such pair (empty when all is well).
 */
export function applySeedAliases(env: NodeJS.ProcessEnv, names?: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [seed, ours] of Object.entries(seedAliases)) {
    if (names && !names.has(ours)) continue;
    const seedValue = env[seed];
    if (seedValue === undefined || seedValue === '') continue;
    const ourValue = env[ours];
    if (ourValue === undefined || ourValue === '') {
      env[ours] = seedValue;
    } else if (ourValue !== seedValue) {
      problems.push(`${seed} and ${ours} are both set and differ: ${seed} is the seed's name for ${ours}, keep one`);
    }
  }
  return problems;
}
