import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../../test/support/stack.js';
import { type Provisioner, startProvisioner } from '../src/provisioner.js';

/**
 * Two provisioners started at the same moment (`npm start -- --instances provisioner=2`) both
 * create the data-plane databases they do not find: one CREATE DATABASE wins, the other must
 * take the loss (a unique violation on pg_database, not only "already exists") as success and
 * keep its warm schema pools.
 */
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({ gateway: false, provisioner: false });
});

afterAll(async () => {
  await stack?.stop();
});

async function dropClusterDatabases(): Promise<void> {
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: new URL('/postgres', stack.db.url).toString() });
  await admin.connect();
  try {
    for (const url of Object.values(stack.clusterUrls)) {
      const name = new URL(url).pathname.slice(1);
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

describe('provisioners started together', () => {
  it('both create the missing data-plane databases and keep a warm pool in each', async () => {
    const expected = Object.values(stack.clusterUrls)
      .map((url) => new URL(url).pathname.slice(1))
      .sort();
    for (let round = 0; round < 4; round++) {
      await dropClusterDatabases();
      const started: Provisioner[] = await Promise.all([
        startProvisioner(stack.env, { handleSignals: false }),
        startProvisioner(stack.env, { handleSignals: false }),
      ]);
      try {
        for (const provisioner of started) {
          expect([...provisioner.dataPlane.warmPoolDatabases].sort()).toEqual(expected);
        }
      } finally {
        await Promise.all(started.map((p) => p.stop()));
      }
    }
  }, 120_000);
});
