import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Upgrade } from '../src/api.js';
import { adminKey } from './support/fakeGateway.js';
import { runCli } from './support/runCli.js';

const id = '5f0c2b1a-7d3e-4c9a-8b6f-2e1d0c9b8a7f';
const cancelled = '5f0c2b1a-0000-4c9a-8b6f-2e1d0c9b8a7f';
const failedTenant = '0b3f8a4e-1111-4aaa-8aaa-000000000001';
/** The upgrade the CLI is asked to start, as the gateway stores it. */
const spec: Upgrade['spec'] = {
  waves: [
    { percent: 1, soakSeconds: 30 },
    { percent: 100, soakSeconds: 0 },
  ],
  filters: { region: 'eu-west-1' },
  concurrencyPerCluster: 2,
  failurePolicy: { pauseOnCanaryFailure: true, maxFailedPercent: 5 },
};

/** A stand-in for the upgrade routes: an upgrade of 100 tenants that advances 25 per poll and ends paused. */
async function fakeUpgrades(): Promise<{
  app: FastifyInstance;
  url: string;
  bodies: unknown[];
  queries: unknown[];
}> {
  const app = Fastify({ logger: false });
  const bodies: unknown[] = [];
  const queries: unknown[] = [];
  let polls = 0;
  const view = (over: Partial<Upgrade> = {}): Upgrade => {
    const ok = Math.min(99, polls * 25);
    const done = ok >= 99;
    return {
      upgradeId: id,
      targetVersion: 2,
      status: done ? 'paused' : 'running',
      statusReason: done ? '1 of 1 canary tenants failed' : null,
      rollbackOf: null,
      spec,
      wavesDone: done ? 1 : 0,
      counts: { pending: 100 - ok - (done ? 1 : 0), running: 0, ok, failed: done ? 1 : 0, skipped: 0 },
      total: 100,
      rate: ok > 0 ? 10 : 0,
      ...(ok > 0 && !done ? { etaSeconds: (100 - ok) / 10 } : {}),
      createdAt: '2026-12-05T10:00:00.000Z',
      updatedAt: '2026-12-05T10:00:10.000Z',
      tenants: done
        ? [{ tenantId: failedTenant, wave: 0, status: 'failed', error: 'column already exists', lockHeldMs: null }]
        : [],
      ...over,
    };
  };
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers['x-admin-key'] !== adminKey) {
      return reply.code(401).type('application/problem+json').send({ title: 'Unauthorized', status: 401 });
    }
  });
  app.post('/api/admin/upgrades', async (request, reply) => {
    bodies.push(request.body);
    if ((request.body as { targetVersion: number }).targetVersion > 2) {
      return reply.code(422).type('application/problem+json').send({
        type: 'https://ttm.dev/problems/unknown-schema-version',
        title: 'Unknown schema version',
        status: 422,
        detail: 'schema version 9 is not one this build can move workspaces to (1..2)',
      });
    }
    polls = 0;
    return reply.code(202).send({ operation_id: id, upgrade: view() });
  });
  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    '/api/admin/upgrades/:id',
    async (request) => {
      queries.push(request.query);
      polls += 1;
      return view();
    },
  );
  app.post<{ Params: { id: string } }>('/api/admin/upgrades/:id/resume', async (request, reply) => {
    if (request.params.id === cancelled) {
      return reply
        .code(409)
        .type('application/problem+json')
        .send({
          type: 'https://ttm.dev/problems/upgrade-conflict',
          title: 'Upgrade conflict',
          status: 409,
          detail: `upgrade ${cancelled} is cancelled; it cannot resume`,
        });
    }
    return view({ status: 'running', statusReason: null });
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, bodies, queries };
}

let fake: Awaited<ReturnType<typeof fakeUpgrades>>;
const admin = (...args: string[]) => runCli(args, { TTM_URL: fake.url, TTM_ADMIN_KEY: adminKey });

beforeAll(async () => {
  fake = await fakeUpgrades();
});
afterAll(async () => {
  await fake.app.close();
});

describe('tenant-cli upgrade', () => {
  it('start posts the waves, the soak and the filters, then --watch shows progress with an ETA until it pauses', async () => {
    const result = await admin(
      'upgrade',
      'start',
      '--to',
      '2',
      '--waves',
      '1,100',
      '--soak',
      '30',
      '--region',
      'eu-west-1',
      '--concurrency',
      '2',
      '--watch',
      '--interval',
      '0.05',
    );
    expect(fake.bodies.at(-1)).toEqual({ targetVersion: 2, ...spec });
    // Off a terminal: one line per poll on stderr, with the rate and the ETA.
    expect(result.stderr).toContain('running 25% wave 1/2 · 25 ok · 75 pending · 10.0/s · ETA 7.5 s');
    expect(result.stderr).toContain('paused 100% paused · 99 ok · 1 failed · 10.0/s');
    expect(result.stdout).toMatch(/STATUS\s+paused/);
    expect(result.stdout).toMatch(/WHY\s+1 of 1 canary tenants failed/);
    expect(result.stdout).toMatch(new RegExp(`${failedTenant}\\s+1\\s+failed\\s+column already exists`));
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      `tenant-cli: upgrade ${id} is paused: 1 of 1 canary tenants failed`,
    );
    expect(result.code).toBe(1);
    expect(fake.queries).toContainEqual({ tenants: 'none' });
  });

  it('status --json prints the upgrade; resume of a cancelled upgrade and an unknown version are one line each', async () => {
    const status = await admin('upgrade', 'status', id, '--json');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ upgradeId: id, total: 100 });

    const refused = await admin('upgrade', 'resume', cancelled);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`tenant-cli: Upgrade conflict: upgrade ${cancelled} is cancelled; it cannot resume\n`);

    const unknown = await admin('upgrade', 'start', '--to', '9');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      'tenant-cli: Unknown schema version: schema version 9 is not one this build can move workspaces to (1..2)\n',
    );
  });

  it('refuses waves that do not grow before asking anything', async () => {
    const before = fake.bodies.length;
    const result = await admin('upgrade', 'start', '--to', '2', '--waves', '10,5');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--waves.*each wave to reach more tenants/);
    expect(fake.bodies.length).toBe(before);
  });
});
