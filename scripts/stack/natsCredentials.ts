/**
 * NATS users for a locked-down server: a random password per service and for `admin`
 * (bootstrap, operators). `npm start` keeps them in .data/nats/credentials.json (mode 0600, so a
 * restart reuses them; `natsAuthDir`) and writes the private server's configuration from them on each start,
 * so a changed allow-list in the code takes effect.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  NATS_SERVICE_USERS,
  type NatsAuthorizationOptions,
  type NatsServiceUser,
  natsAuthorizationConfig,
  natsServerConfig,
} from '../../packages/service-kit/src/natsAuthorization.js';

/** Where `npm start` keeps the private NATS users. */
export const natsAuthDir = (dataRoot: string): string => join(dataRoot, 'nats-auth');

export type NatsPasswords = Record<NatsServiceUser | 'admin', string>;
const USERS = ['admin', ...NATS_SERVICE_USERS] as const;

export function newNatsPasswords(): NatsPasswords {
  return Object.fromEntries(USERS.map((u) => [u, randomBytes(24).toString('base64url')])) as NatsPasswords;
}

/** `npm run nats:auth`: nats-auth.conf and nats-users.env under `dir`, never overwriting. */
export async function writeNatsCredentials(dir: string, options: NatsAuthorizationOptions): Promise<void> {
  const passwords = newNatsPasswords();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'nats-auth.conf'), natsAuthorizationConfig(passwords, options), {
    mode: 0o600,
    flag: 'wx',
  });
  const env = USERS.map((u) => `# ${u}\nNATS_USER=${u}\nNATS_PASSWORD=${passwords[u]}\n`).join('\n');
  await writeFile(join(dir, 'nats-users.env'), env, { mode: 0o600, flag: 'wx' });
}

/** The passwords an earlier `npm start` kept under `dir`, if any (smoke and operators connect as admin). */
export function savedNatsPasswords(dir: string): NatsPasswords | undefined {
  const store = join(dir, 'credentials.json');
  if (!existsSync(store)) return undefined;
  const saved = JSON.parse(readFileSync(store, 'utf8')) as Partial<NatsPasswords>;
  return USERS.every((u) => typeof saved[u] === 'string') ? (saved as NatsPasswords) : undefined;
}

/**
 * The private instance's passwords (kept from an earlier start, or new) and its configuration
 * file, written under `dir`; returns the passwords and the configuration's path.
 */
export function privateNatsAuthorization(
  dir: string,
  options: NatsAuthorizationOptions & { listen: string; storeDir: string },
): { passwords: NatsPasswords; configFile: string } {
  mkdirSync(dir, { recursive: true });
  const store = join(dir, 'credentials.json');
  let passwords = savedNatsPasswords(dir);
  if (!passwords) {
    passwords = newNatsPasswords();
    writeFileSync(store, `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });
  }
  const configFile = join(dir, 'nats-server.conf');
  writeFileSync(configFile, natsServerConfig(passwords, options), { mode: 0o600 });
  return { passwords, configFile };
}

/** What each process of the stack gets: its own NATS user (bootstrap takes `admin`). */
export function natsUserEnv(user: NatsServiceUser | 'admin', passwords: NatsPasswords): Record<string, string> {
  return { NATS_USER: user, NATS_PASSWORD: passwords[user] };
}
