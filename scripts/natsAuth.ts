/**
 * `npm run nats:auth -- <dir>`: a locked-down NATS for this deployment. Writes
 * `<dir>/nats-auth.conf` (the nats-server `authorization` block: one user per service with its
 * allow-lists, and `admin`, each with a new random password; include it from the server's
 * configuration) and `<dir>/nats-users.env` (NATS_USER / NATS_PASSWORD per service, to hand to
 * each service's environment). Both are secrets: mode 0600. Nothing is overwritten. The backup
 * service's object store buckets follow REGIONS (default regions when unset).
 *
 * `npm run nats:auth -- --compose`: regenerates infra/nats/nats-server.conf, docker-compose's
 * server configuration, whose passwords come from NATS_<USER>_PASSWORD in the environment.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { catalogEnv, defaultRegions } from '../packages/service-kit/src/catalog.js';
import { loadConfig } from '../packages/service-kit/src/config.js';
import { backupObjectStoreBuckets, composeNatsServerConfig } from '../packages/service-kit/src/natsAuthorization.js';
import { writeNatsCredentials } from './stack/natsCredentials.js';

try {
  if (process.argv[2] === '--compose') {
    const file = resolve(import.meta.dirname, '..', 'infra', 'nats', 'nats-server.conf');
    await writeFile(file, composeNatsServerConfig(defaultRegions().map((r) => r.name)));
    console.log(`wrote ${file}`);
  } else {
    const dir = resolve(process.argv[2] ?? '.data/nats');
    const regions = loadConfig(z.object({ REGIONS: catalogEnv.REGIONS })).REGIONS.map((r) => r.name);
    await writeNatsCredentials(dir, { objectStoreBuckets: backupObjectStoreBuckets(regions) });
    console.log(`wrote ${join(dir, 'nats-auth.conf')} and ${join(dir, 'nats-users.env')}`);
  }
} catch (error) {
  console.error(`nats:auth: ${(error as Error).message}`);
  process.exitCode = 1;
}
