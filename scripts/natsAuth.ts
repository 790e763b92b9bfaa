/**
 * `npm run nats:auth -- <dir>`: a locked-down NATS for this deployment. Writes
 * `<dir>/nats-auth.conf` (the nats-server `authorization` block: one user per service with its
 * permissions, and `admin`, each with a new random password; include it from the server's
 * configuration) and `<dir>/nats-users.env` (NATS_USER / NATS_PASSWORD per service, to hand to
 * each service's environment). Both are secrets: mode 0600. Nothing is overwritten.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NATS_SERVICE_USERS, natsAuthorizationConfig } from '../packages/service-kit/src/natsAuthorization.js';

const dir = resolve(process.argv[2] ?? '.data/nats');
const users = ['admin', ...NATS_SERVICE_USERS] as const;
const passwords = Object.fromEntries(users.map((u) => [u, randomBytes(24).toString('base64url')])) as Record<
  (typeof users)[number],
  string
>;
try {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'nats-auth.conf'), natsAuthorizationConfig(passwords), { mode: 0o600, flag: 'wx' });
  const env = users.map((u) => `# ${u}\nNATS_USER=${u}\nNATS_PASSWORD=${passwords[u]}\n`).join('\n');
  await writeFile(join(dir, 'nats-users.env'), env, { mode: 0o600, flag: 'wx' });
  console.log(`wrote ${join(dir, 'nats-auth.conf')} and ${join(dir, 'nats-users.env')}`);
} catch (error) {
  console.error(`nats:auth: ${(error as Error).message}`);
  process.exitCode = 1;
}
