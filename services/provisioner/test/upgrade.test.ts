import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Subjects, TenantSchemaUpgraded } from '@ttm/contracts';
import {
  changeWorkspaceVersion,
  referenceFingerprints,
  schemaFingerprints,
  schemaVersionOf,
  WORKSPACE_SCHEMA_VERSION,
} from '@ttm/data-plane';
import { readAggregate } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { registerTenant, schemaChecksums, seedTenant, type TestTenant } from '../../../test/support/tenants.js';
import { assignWaves, createRollback, createUpgrade, readUpgrade, setUpgradeStatus } from '../src/upgrades/index.js';

const N = WORKSPACE_SCHEMA_VERSION;
const crashing = fileURLToPath(new URL('./support/crashingUpgrade.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));

let stack: TestStack;
let nc: NatsConnection;
let control: pg.Pool;
let plane: pg.Pool;
let tenants: TestTenant[];

beforeAll(async () => {
  stack = await startStack({ gateway: false, env: { WORKSPACE_WARM_POOL: '0' } });
  nc = await connect({ servers: stack.nats.url });
  tenants = await Promise.all(Array.from({ length: 10 }, () => registerTenant(stack, nc)));
  await seedTenant(tenants[0]!, 40, 10);
  control = new pg.Pool({ connectionString: stack.db.url, max: 2 });
  plane = new pg.Pool({ connectionString: stack.clusterUrls['us-east-1'], max: 2 });
  // The fleet as it was before this build: every workspace at N-1.
  for (const t of tenants) await changeWorkspaceVersion(plane, { workspaceId: t.tenantId, to: N - 1 });
}, 120_000);

afterAll(async () => {
  await control?.end();
  await plane?.end();
  await nc?.close();
  await stack?.stop();
});

async function until(upgradeId: string, statuses: string[], timeoutMs = 30_000) {
  return eventually(async () => {
    const progress = await readUpgrade(control, upgradeId);
    return progress && statuses.includes(progress.status) ? progress : undefined;
  }, timeoutMs);
}

async function schemaEvents(tenantId: string) {
  const { events } = await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId));
  return events
    .filter((e) => e.type === TenantSchemaUpgraded.type)
    .map((e) => TenantSchemaUpgraded.schema.parse(e.data));
}

async function fingerprintsAt(version: number) {
  const client = await plane.connect();
  const references = await referenceFingerprints(client).finally(() => client.release());
  const actual = await schemaFingerprints(
    plane,
    tenants.map((t) => t.schema),
  );
  return tenants.filter((t) => actual.get(t.schema) !== references.get(version)).map((t) => t.tenantId);
}

describe('fleet schema upgrade', () => {
  let upgradeId: string;
  let before: Awaited<ReturnType<typeof schemaChecksums>>;

  it('killed with SIGKILL mid-wave, then resumed, upgrades every tenant exactly once', async () => {
    before = await schemaChecksums(tenants[0]!.url, tenants[0]!.schema);
    await stack.stopProvisioner();
    upgradeId = await createUpgrade(control, {
      targetVersion: N,
      waves: [{ percent: 100, soakSeconds: 0 }],
      filters: { region: 'us-east-1' },
      concurrencyPerCluster: 2,
    });
    const child = spawn(tsx, [crashing], {
      env: { ...process.env, ...stack.env, CRASH_AFTER_TENANTS: '3' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exit = await new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    expect(['SIGKILL', 137]).toContain(exit); // tsx passes its child's SIGKILL on as exit code 137
    const crashed = await readUpgrade(control, upgradeId);
    expect(crashed?.status).toBe('running');
    const inFlight = crashed!.counts.running;
    expect(inFlight).toBeGreaterThanOrEqual(1);
    expect(crashed!.counts.ok).toBeGreaterThanOrEqual(2);

    await stack.startProvisioner();
    const done = await until(upgradeId, ['completed', 'paused']);
    expect(done.status).toBe('completed');
    expect(done.counts).toMatchObject({ ok: tenants.length, failed: 0, pending: 0, running: 0 });
    const { rows } = await control.query<{ retries: number }>(
      'SELECT coalesce(sum(attempts - 1), 0)::int AS retries FROM provisioner.upgrade_tenants WHERE upgrade_id = $1',
      [upgradeId],
    );
    expect(rows[0]!.retries).toBeLessThanOrEqual(inFlight);
    for (const t of tenants) {
      expect(await schemaVersionOf(plane, t.tenantId)).toBe(N);
      const events = (await schemaEvents(t.tenantId)).filter((e) => e.upgradeId === upgradeId);
      expect(events.map((e) => [e.from, e.to])).toEqual([[N - 1, N]]);
    }
    expect(await fingerprintsAt(N)).toEqual([]);
  }, 120_000);

  it('rolls the fleet back by the same waves: N-1 schemas and identical data', async () => {
    const rollbackId = await createRollback(control, upgradeId);
    const done = await until(rollbackId, ['completed', 'paused']);
    expect(done).toMatchObject({ status: 'completed', rollbackOf: upgradeId, targetVersion: N - 1 });
    expect(done.counts.ok).toBe(tenants.length);
    expect(await fingerprintsAt(N - 1)).toEqual([]);
    expect(await schemaChecksums(tenants[0]!.url, tenants[0]!.schema)).toEqual(before);
    for (const t of tenants) {
      expect((await schemaEvents(t.tenantId)).map((e) => e.to)).toEqual([N, N - 1]);
    }
  }, 60_000);

  it('pauses when a canary fails; the failed tenant stays at N-1 and serves', async () => {
    const id = randomUUID();
    const waves = [
      { percent: 10, soakSeconds: 0 },
      { percent: 100, soakSeconds: 0 },
    ];
    const canary = assignWaves(
      id,
      tenants.map((t) => t.tenantId),
      waves,
    ).find((p) => p.wave === 0)!.tenantId;
    const broken = tenants.find((t) => t.tenantId === canary)!;
    await plane.query(`ALTER TABLE "${broken.schema}".company ADD COLUMN "linkedinLinkPrimaryLinkUrl" text`);
    await createUpgrade(control, { targetVersion: N, waves, filters: { region: 'us-east-1' } }, { upgradeId: id });
    const paused = await until(id, ['paused', 'completed']);
    expect(paused.status).toBe('paused');
    expect(paused.statusReason).toMatch(/canary/);
    expect(paused.tenants.find((t) => t.tenantId === canary)).toMatchObject({ status: 'failed', wave: 0 });
    expect(paused.tenants.find((t) => t.tenantId === canary)?.error).toMatch(/already exists/);
    expect(paused.tenants.filter((t) => t.wave === 1).every((t) => t.status === 'pending')).toBe(true);
    expect(await schemaVersionOf(plane, canary)).toBe(N - 1);
    const served = await plane.query(`SELECT count(*)::int AS n FROM "${broken.schema}".person`);
    expect(served.rows[0]).toBeDefined();
    for (const t of tenants.filter((x) => x.tenantId !== canary)) {
      expect(await schemaVersionOf(plane, t.tenantId)).toBe(N - 1);
    }
    // Resuming accepts the canary's failure and goes on with the rest.
    await setUpgradeStatus(control, id, 'resume');
    const done = await until(id, ['completed', 'paused']);
    expect(done.status).toBe('completed');
    expect(done.counts).toMatchObject({ ok: tenants.length - 1, failed: 1 });
    expect(await schemaVersionOf(plane, canary)).toBe(N - 1);
  }, 60_000);
});
