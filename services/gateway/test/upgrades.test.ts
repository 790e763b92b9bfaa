import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Subjects, TenantSchemaUpgraded, type UpgradeView } from '@ttm/contracts';
import { changeWorkspaceVersion, schemaVersionOf, WORKSPACE_SCHEMA_VERSION } from '@ttm/data-plane';
import { readAggregate } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { adminFetch, json, problem } from '../../../test/support/http.js';
import {
  eventually,
  startStack,
  stopConnectedStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from '../../../test/support/stack.js';
import { registerTenant, type TestTenant } from '../../../test/support/tenants.js';
import { canaryOf } from '../../../test/support/upgrades.js';
import type { LiveUpgrade, TickMessage } from '../src/features/dashboard/protocol.js';
import type { UpgradeOperation } from '../src/features/upgrades/operation.js';
import { derivedUuid } from '../src/idempotency.js';

const N = WORKSPACE_SCHEMA_VERSION;
const FLEET = 6;

let stack: TestStack;
let nc: NatsConnection;
let plane: pg.Pool;
let tenants: TestTenant[];

beforeAll(async () => {
  stack = await startStack({ env: { WORKSPACE_WARM_POOL: '0' } });
  nc = await connect({ servers: stack.nats.url });
  tenants = await Promise.all(Array.from({ length: FLEET }, () => registerTenant(stack, nc)));
  plane = new pg.Pool({ connectionString: stack.clusterUrls['us-east-1'], max: 2 });
  // The fleet as it was before this build: every workspace at N-1.
  for (const t of tenants) await changeWorkspaceVersion(plane, { workspaceId: t.tenantId, to: N - 1 });
}, 180_000);

afterAll(async () => {
  await plane?.end();
  await stopConnectedStack({ stack, nc });
});

const admin = adminFetch(() => stack.url);
type Accepted = { operation_id: string; upgrade: UpgradeView };

async function start(body: unknown, key?: string): Promise<Accepted> {
  const response = await admin('/api/admin/upgrades', {
    method: 'POST',
    body: JSON.stringify(body),
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });
  const accepted = await json<Accepted>(response, 202);
  expect(response.headers.get('location')).toBe(`/api/operations/${accepted.operation_id}`);
  return accepted;
}

const steer = (id: string, action: 'pause' | 'resume' | 'cancel' | 'rollback') =>
  admin(`/api/admin/upgrades/${id}/${action}`, { method: 'POST' });

const read = async (id: string) => json<UpgradeView>(await admin(`/api/admin/upgrades/${id}`));

/** Poll over HTTP until the upgrade satisfies `reached`. */
const until = (id: string, reached: (u: UpgradeView) => boolean, timeoutMs = 90_000) =>
  eventually(async () => {
    const upgrade = await read(id);
    return reached(upgrade) ? upgrade : undefined;
  }, timeoutMs);

const settled = (u: UpgradeView) => u.status !== 'running';

/**
 * Start an upgrade whose canary wave (10 %) is followed by an hour's soak, and return its id
 * once the canary wave is counted done: the upgrade is then soaking, the rest of the fleet pending.
 */
async function startSoakingAfterCanary(): Promise<string> {
  const accepted = await start({
    targetVersion: N,
    waves: [
      { percent: 10, soakSeconds: 3_600 },
      { percent: 100, soakSeconds: 0 },
    ],
  });
  await until(accepted.operation_id, (u) => u.wavesDone === 1);
  return accepted.operation_id;
}

async function versions(): Promise<(number | undefined)[]> {
  return Promise.all(tenants.map((t) => schemaVersionOf(plane, t.tenantId)));
}

/** The schema changes the tenant decider recorded for this upgrade, per tenant. */
async function recorded(upgradeId: string): Promise<number[]> {
  const js = jetstream(nc);
  return Promise.all(
    tenants.map(async (t) => {
      const { events } = await readAggregate(js, Subjects.tenantEvents(t.tenantId));
      return events.filter(
        (e) =>
          e.type === TenantSchemaUpgraded.type && TenantSchemaUpgraded.schema.parse(e.data).upgradeId === upgradeId,
      ).length;
    }),
  );
}

async function rollBack(upgradeId: string): Promise<void> {
  const rollback = await json<Accepted>(await steer(upgradeId, 'rollback'), 202);
  expect(rollback.upgrade.rollbackOf).toBe(upgradeId);
  const done = await until(rollback.operation_id, settled);
  expect(done.status).toBe('completed');
  expect(done.counts.failed).toBe(0);
}

describe('fleet upgrades over HTTP', () => {
  it('refuses what it cannot do as problem+json: unknown version 422, bad body 400, unknown id 404', async () => {
    const unknownVersion = await problem(
      await admin('/api/admin/upgrades', { method: 'POST', body: JSON.stringify({ targetVersion: N + 7 }) }),
      422,
    );
    expect(unknownVersion.detail).toMatch(new RegExp(`schema version ${N + 7} is not one this build`));
    await problem(
      await admin('/api/admin/upgrades', {
        method: 'POST',
        body: JSON.stringify({ targetVersion: N, concurrencyPerCluster: 5 }),
      }),
      400,
    );
    const missing = '00000000-0000-4000-8000-000000000000';
    await problem(await admin(`/api/admin/upgrades/${missing}`), 404);
    await problem(await steer(missing, 'pause'), 404);
    await problem(await admin(`/api/admin/upgrades/not-a-uuid`), 400);
    const anonymous = await fetch(`${stack.url}/api/admin/upgrades/${missing}`);
    expect(anonymous.status).toBe(401);
  });

  it('upgrades every tenant exactly once, shows it per tenant on /api/operations/{id}, and rolls it back', async () => {
    const accepted = await start({
      targetVersion: N,
      waves: [
        { percent: 1, soakSeconds: 0 },
        { percent: 100, soakSeconds: 0 },
      ],
      filters: { region: 'us-east-1' },
      concurrencyPerCluster: 2,
    });
    expect(accepted.upgrade).toMatchObject({ status: 'running', total: FLEET, targetVersion: N });
    const done = await until(accepted.operation_id, settled);
    expect(done.status).toBe('completed');
    expect(done.counts).toEqual({ pending: 0, running: 0, ok: FLEET, failed: 0, skipped: 0 });
    expect(done.tenants.map((t) => t.wave).sort()).toEqual([0, 1, 1, 1, 1, 1]);
    expect(await versions()).toEqual(tenants.map(() => N));
    expect(await recorded(accepted.operation_id)).toEqual(tenants.map(() => 1));

    const operation = await json<UpgradeOperation>(await admin(`/api/operations/${accepted.operation_id}`));
    expect(operation).toMatchObject({ kind: 'upgrade', tenant_id: null, status: 'succeeded', progress: 100 });
    expect(operation.tenants.map((t) => t.tenant_id).sort()).toEqual(tenants.map((t) => t.tenantId).sort());
    expect(operation.tenants.every((t) => t.status === 'ok')).toBe(true);
    // Without the admin key a fleet upgrade is nobody's operation.
    expect((await fetch(`${stack.url}/api/operations/${accepted.operation_id}`)).status).toBe(404);

    // The same Idempotency-Key names the same upgrade; a second one is a new upgrade (here: nothing left to do).
    const key = 'upgrade-http-test-1';
    const again = await start({ targetVersion: N }, key);
    expect(again.operation_id).toBe(derivedUuid('upgrade-route', key));
    expect((await start({ targetVersion: N }, key)).operation_id).toBe(again.operation_id);
    const noop = await until(again.operation_id, settled);
    expect(noop.counts).toMatchObject({ ok: 0, skipped: FLEET });

    await rollBack(accepted.operation_id);
    expect(await versions()).toEqual(tenants.map(() => N - 1));
  }, 240_000);

  it('pauses when the canary fails (a tampered schema); the rest waits; resume finishes it', async () => {
    const key = 'upgrade-http-canary';
    const upgradeId = derivedUuid('upgrade-route', key);
    const waves = [
      { percent: 10, soakSeconds: 0 },
      { percent: 100, soakSeconds: 0 },
    ];
    const canary = canaryOf(
      upgradeId,
      tenants.map((t) => t.tenantId),
      waves,
    );
    const broken = tenants.find((t) => t.tenantId === canary)!;
    await plane.query(`ALTER TABLE "${broken.schema}".company ADD COLUMN "linkedinLinkPrimaryLinkUrl" text`);
    try {
      await start({ targetVersion: N, waves, filters: { region: 'us-east-1' } }, key);
      const paused = await until(upgradeId, settled);
      expect(paused.status).toBe('paused');
      expect(paused.statusReason).toMatch(/canary/);
      const failed = paused.tenants.find((t) => t.tenantId === canary);
      expect(failed).toMatchObject({ status: 'failed', wave: 0 });
      expect(failed?.error).toMatch(/already exists/);
      expect(paused.tenants.filter((t) => t.wave === 1).every((t) => t.status === 'pending')).toBe(true);
      expect(await versions()).toEqual(tenants.map(() => N - 1));

      const operation = await json<UpgradeOperation>(await admin(`/api/operations/${upgradeId}`));
      expect(operation).toMatchObject({ kind: 'upgrade', status: 'running' });
      expect(operation.step).toMatch(/^paused: .*canary/);
      const failedOnly = await json<UpgradeView>(await admin(`/api/admin/upgrades/${upgradeId}?tenants=failed`));
      expect(failedOnly.tenants.map((t) => t.tenantId)).toEqual([canary]);

      const resumed = await json<UpgradeView>(await steer(upgradeId, 'resume'));
      expect(resumed.status).toBe('running');
      const done = await until(upgradeId, settled);
      expect(done.status).toBe('completed');
      expect(done.counts).toMatchObject({ ok: FLEET - 1, failed: 1 });
      expect(await schemaVersionOf(plane, canary)).toBe(N - 1);
      await rollBack(upgradeId);
    } finally {
      await plane.query(`ALTER TABLE "${broken.schema}".company DROP COLUMN IF EXISTS "linkedinLinkPrimaryLinkUrl"`);
    }
    expect(await versions()).toEqual(tenants.map(() => N - 1));
  }, 240_000);

  it('cancel skips the tenants not started; a cancelled upgrade cannot resume (409)', async () => {
    const id = await startSoakingAfterCanary();
    const cancelled = await json<UpgradeView>(await steer(id, 'cancel'));
    expect(cancelled.status).toBe('cancelled');
    const after = await read(id);
    expect(after.counts).toEqual({ pending: 0, running: 0, ok: 1, failed: 0, skipped: FLEET - 1 });
    expect(after.tenants.filter((t) => t.status === 'skipped').every((t) => t.error === 'cancelled')).toBe(true);

    const refused = await problem(await steer(id, 'resume'), 409);
    expect(refused.detail).toMatch(/cancelled; it cannot resume/);
    const operation = await json<UpgradeOperation>(await admin(`/api/operations/${id}`));
    expect(operation).toMatchObject({ kind: 'upgrade', status: 'failed', step: 'cancelled' });
    expect((await versions()).filter((v) => v === N)).toHaveLength(1);
    await rollBack(id);
    expect(await versions()).toEqual(tenants.map(() => N - 1));
  }, 240_000);

  it('pause holds the next wave; resume carries on and every tenant is upgraded once', async () => {
    const id = await startSoakingAfterCanary();
    const paused = await json<UpgradeView>(await steer(id, 'pause'));
    expect(paused.status).toBe('paused');
    const held = await read(id);
    expect(held.counts).toMatchObject({ ok: 1, pending: FLEET - 1 });
    // Pausing a paused upgrade changes nothing.
    expect((await json<UpgradeView>(await steer(id, 'pause'))).status).toBe('paused');

    const resumed = await json<UpgradeView>(await steer(id, 'resume'));
    expect(resumed.status).toBe('running');
    const done = await until(id, settled);
    expect(done.status).toBe('completed');
    expect(done.counts).toMatchObject({ ok: FLEET, failed: 0 });
    expect(await versions()).toEqual(tenants.map(() => N));
    expect(await recorded(id)).toEqual(tenants.map(() => 1));
  }, 240_000);

  it('lists the upgrades newest first with counts only, and the live stream carries their changes', async () => {
    const { items } = await json<{ items: UpgradeView[] }>(await admin('/api/admin/upgrades'));
    expect(items.length).toBeGreaterThanOrEqual(4);
    expect(items.every((u) => u.tenants.length === 0 && u.total > 0)).toBe(true);
    const created = items.map((u) => u.createdAt);
    expect(created).toEqual([...created].sort().reverse());
    const one = await json<{ items: UpgradeView[] }>(await admin('/api/admin/upgrades?limit=1'));
    expect(one.items.map((u) => u.upgradeId)).toEqual([items[0]!.upgradeId]);
    await problem(await admin('/api/admin/upgrades?limit=0'), 400);
    expect((await fetch(`${stack.url}/api/admin/upgrades`)).status).toBe(401);

    // A connected client is sent each upgrade that changed, from the first tick after it started.
    const socket = new WebSocket(`${stack.url.replace('http', 'ws')}/api/admin/live`, {
      headers: { 'x-admin-key': TEST_ADMIN_KEY },
    });
    const seen: LiveUpgrade[] = [];
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as TickMessage;
      if (message.type === 'tick') seen.push(...message.data.upgrades);
    });
    try {
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const started = await start({ targetVersion: N });
      const last = await eventually(() => {
        const mine = seen.filter((u) => u.upgradeId === started.operation_id);
        return mine.at(-1)?.status === 'completed' ? mine.at(-1) : undefined;
      }, 30_000);
      expect(last).toMatchObject({ targetVersion: N, total: FLEET, counts: { skipped: FLEET } });
      expect(last).not.toHaveProperty('tenants');
    } finally {
      socket.close();
    }
  });
});
