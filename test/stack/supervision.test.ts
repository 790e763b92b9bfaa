import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';

import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';
import { Consumers, Streams, Subjects } from '@ttm/contracts';
import { readAggregate, SERVICE_SCHEMAS, serviceRoleName } from '@ttm/service-kit';
import { freePort, TEST_POSTGRES_URL } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childPids } from '../support/processes.js';
import { eventually, startConnectedStack, type TestStack } from '../support/stack.js';
import { publishRegistration } from '../support/tenants.js';

/**
 * `npm start` as a user runs it (scripts/start.ts, real processes), on this file's private NATS,
 * databases and Redis prefix and on free ports: a provisioner SIGKILLed while registrations are
 * in flight is restarted by the supervisor, and every tenant ends provisioned exactly once.
 */
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const rolePrefix = `ttm_v${randomUUID().replaceAll('-', '').slice(0, 8)}`;

let stack: TestStack;
let nc: NatsConnection;
let runner: ChildProcess | undefined;
let output = '';
let supervisorPort = 0;
let gatewayPort = 0;

async function register(n: number): Promise<string> {
  return (await publishRegistration(jetstream(nc), `Supervised ${n}`)).tenantId;
}

async function eventTypes(tenantId: string): Promise<string[]> {
  const { events } = await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId));
  return events.map((e) => e.type);
}

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ gateway: false, provisioner: false }));
  supervisorPort = await freePort();
  gatewayPort = await freePort();
  const ports = {
    PORT: gatewayPort,
    PROVISIONER_PORT: await freePort(),
    METERING_PORT: await freePort(),
    QUOTA_PORT: await freePort(),
    BACKUP_PORT: await freePort(),
    WEBHOOKS_PORT: await freePort(),
  };
  runner = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...stack.env,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      SUPERVISOR_PORT: String(supervisorPort),
      STACK_INSTANCES: '',
      // The bootstrap makes a role per service: cluster-wide, so names of this run only.
      DATABASE_ROLE_PREFIX: rolePrefix,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  runner.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  runner.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await eventually(() => {
    if (runner!.exitCode !== null) throw new Error(`npm start exited ${runner!.exitCode}:\n${output.slice(-3_000)}`);
    return output.includes('Twenty Tenant Manager is ready') ? true : undefined;
  }, 150_000);
  // A killed provisioner never acks: its commands come back after ack_wait (shortened here, after
  // the stack's bootstrap set the usual one).
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.update(Streams.COMMANDS, Consumers.provisionerCommands, { ack_wait: nanos(2_000) });
}, 180_000);

afterAll(async () => {
  if (runner && runner.exitCode === null && runner.pid) {
    const exited = new Promise((resolve) => runner!.once('exit', resolve));
    process.kill(runner.pid, 'SIGINT');
    const timer = setTimeout(() => process.kill(-runner!.pid!, 'SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  await nc?.close();
  await stack?.stop();
  // After the database is gone: the roles own nothing any more.
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    for (const service of Object.keys(SERVICE_SCHEMAS)) {
      await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(serviceRoleName(service, rolePrefix))}`);
    }
  } finally {
    await admin.end();
  }
}, 60_000);

describe('npm start supervises', () => {
  it('connects each service to PostgreSQL as its own role (the bootstrap ran as a superuser)', async () => {
    expect(output).toContain(`PostgreSQL: each service connects as its own role (${rolePrefix}_gateway, ...)`);
  });

  it('listens on loopback only by default', async () => {
    expect((await fetch(`http://127.0.0.1:${gatewayPort}/health/live`)).status).toBe(200);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal);
    if (external) {
      await expect(fetch(`http://${external.address}:${gatewayPort}/health/live`)).rejects.toThrow();
    }
  });

  it('restarts a SIGKILLed provisioner by itself; registrations in flight finish exactly once', async () => {
    const pid = runner!.pid!;
    const [provisioner] = childPids(pid, 'services/provisioner/src/main.ts');
    expect(provisioner).toBeDefined();

    const before = await Promise.all(Array.from({ length: 20 }, (_, i) => register(i)));
    // Kill it once it works on them (the first registration recorded), with the rest in flight.
    await eventually(async () => ((await eventTypes(before[0]!)).length > 0 ? true : undefined), 60_000);
    process.kill(provisioner!, 'SIGKILL');
    const after = await Promise.all(Array.from({ length: 20 }, (_, i) => register(100 + i)));

    await eventually(
      () => (output.includes('provisioner exited unexpectedly (SIGKILL): restarting it') ? true : undefined),
      30_000,
    );
    const [restarted] = await eventually(() => {
      const pids = childPids(pid, 'services/provisioner/src/main.ts');
      return pids.length === 1 && pids[0] !== provisioner ? pids : undefined;
    }, 30_000);
    expect(restarted).not.toBe(provisioner);

    const cluster = new pg.Client({ connectionString: stack.clusterUrls['us-east-1'] });
    await cluster.connect();
    try {
      for (const tenantId of [...before, ...after]) {
        const types = await eventually(async () => {
          const all = await eventTypes(tenantId);
          return all.includes('ttm.tenant.provisioned.v1') ? all : undefined;
        }, 90_000);
        expect(types.filter((t) => t === 'ttm.tenant.provisioned.v1')).toHaveLength(1);
        expect(types.filter((t) => t === 'ttm.tenant.registered.v1')).toHaveLength(1);
        const { rows } = await cluster.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM core.workspace WHERE id = $1',
          [tenantId],
        );
        expect(rows[0]!.n).toBe(1);
      }
    } finally {
      await cluster.end();
    }

    const metrics = await (await fetch(`http://127.0.0.1:${supervisorPort}/metrics`)).text();
    expect(metrics).toMatch(/^supervisor_restarts_total\{service="provisioner"\} 1$/m);
    expect(metrics).toMatch(/^supervisor_restarts_total\{service="gateway"\} 0$/m);
    // The others kept running: the stack did not stop.
    expect(runner!.exitCode).toBeNull();
  }, 240_000);

  it('stops cleanly on SIGINT', async () => {
    const exited = new Promise<number | null>((resolve) => runner!.once('exit', (code) => resolve(code)));
    process.kill(runner!.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('[stack] all services stopped');
  }, 60_000);
});
