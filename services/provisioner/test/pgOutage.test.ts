import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encodeMessage, RegisterOrganization, Subjects } from '@ttm/contracts';
import {
  bootstrapTopology,
  commonEnv,
  connectNats,
  createLogger,
  loadConfig,
  publishMessage,
  readAggregate,
  topologySettingsFrom,
} from '@ttm/service-kit';
import { PrivateNatsServer } from '@ttm/service-kit/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDatabase } from '../../../packages/service-kit/src/postgres.js';
import { PrivatePostgres, until } from '../../../test/faults/support/backingProcesses.js';
import { type Provisioner, startProvisioner } from '../src/provisioner.js';

/**
 * PostgreSQL (the control-plane database and the data-plane cluster, one private server on a free
 * port) stopped at once for 60 s while registrations keep arriving, then started again: every
 * registration JetStream acknowledged ends as exactly one ACTIVE workspace, and none of them ever
 * failed on the way (the commands wait out the outage on their redeliveries: tenant/redelivery.ts).
 */
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const OUTAGE_MS = 60_000;

let nats: PrivateNatsServer;
let postgres: PrivatePostgres;
let nc: NatsConnection;
let provisioner: Provisioner | undefined;
let env: Record<string, string>;

beforeAll(async () => {
  nats = await PrivateNatsServer.start();
  postgres = await PrivatePostgres.start();
  env = {
    NATS_URL: nats.url,
    DATABASE_URL: postgres.url('ttm'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HOST: '127.0.0.1',
    PROVISIONER_PORT: '0',
    PROVISIONING_RETRY_DELAY: '20ms',
    WORKSPACE_WARM_POOL: '0',
    SHUTDOWN_TIMEOUT: '5s',
    REGIONS: JSON.stringify([
      { name: 'us-east-1', clusters: [{ name: 'use1-a', url: postgres.url('ttm_use1'), capacity: 1000 }] },
    ]),
  };
  await ensureDatabase(env.DATABASE_URL!);
  const logger = createLogger('pg-outage', 'silent');
  const link = await connectNats(nats.url, 'ttm-pg-outage-bootstrap', logger);
  await bootstrapTopology(link.nc, topologySettingsFrom(loadConfig(commonEnv, env)), logger);
  await link.nc.close();
  nc = await connect({ servers: nats.url });
  provisioner = await startProvisioner(env, { handleSignals: false });
}, 180_000);

afterAll(async () => {
  await provisioner?.stop().catch(() => undefined);
  await nc?.close();
  await nats?.stop();
  await postgres?.stop();
}, 120_000);

function registration(n: number) {
  return {
    provisioningId: randomUUID(),
    tenantId: randomUUID(),
    organizationName: `Outage Org ${n}`,
    adminEmail: `admin-${n}@outage.test`,
    adminPasswordHash: HASH,
    plan: 'pro',
    region: 'us-east-1',
    requestedAt: new Date().toISOString(),
  };
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgres.url('ttm_use1') });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Deliveries of a registration that failed and were left to the next one (`ttm_commands_total`). */
function retriedRegistrations(text: string): number {
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('ttm_commands_total{') &&
        l.includes(`type="${RegisterOrganization.type}"`) &&
        l.includes('outcome="retry"'),
    );
  return Number(line?.split(' ').at(-1) ?? 0);
}

describe('PostgreSQL down 60 s during registrations', () => {
  it('ends every acknowledged registration active exactly once, none failed on the way', async () => {
    const acknowledged: ReturnType<typeof registration>[] = [];
    const js = jetstream(nc);
    const send = async (n: number) => {
      const data = registration(n);
      await publishMessage(
        js,
        RegisterOrganization.subject,
        encodeMessage(RegisterOrganization, data, { source: '/test' }),
      );
      acknowledged.push(data);
    };
    let n = 0;
    // Before: the provisioner works.
    for (; n < 3; n++) await send(n);
    await until('first registrations active', async () => (await activeCount()) === 3, 120_000);

    // During: registrations keep coming while PostgreSQL is away.
    await postgres.crash();
    const downSince = Date.now();
    while (Date.now() - downSince < OUTAGE_MS) {
      await send(n++);
      await new Promise((r) => setTimeout(r, 1_500));
    }
    const sentDuringOutage = acknowledged.length - 3;
    await postgres.restart();
    // After: a few more once it is back.
    for (const end = n + 3; n < end; n++) await send(n);

    // Some provisionings really waited on their redelivery (the outage was seen).
    expect(retriedRegistrations(await provisioner!.service.metrics.metrics())).toBeGreaterThan(0);
    expect(sentDuringOutage).toBeGreaterThan(0);

    // Each acknowledged registration: provisioned, never failed, exactly one ACTIVE workspace.
    await until(
      'every acknowledged registration provisioned',
      async () => {
        for (const data of acknowledged) {
          const { events } = await readAggregate(js, Subjects.tenantEvents(data.tenantId));
          if (events.at(-1)?.type !== 'ttm.tenant.provisioned.v1') return false;
        }
        return true;
      },
      600_000,
    );
    for (const data of acknowledged) {
      const { events } = await readAggregate(js, Subjects.tenantEvents(data.tenantId));
      const types = events.map((e) => e.type);
      expect(types.filter((t) => t === 'ttm.tenant.provisioning-failed.v1')).toEqual([]);
      expect(types.filter((t) => t === 'ttm.tenant.registered.v1')).toHaveLength(1);
      expect(types.filter((t) => t === 'ttm.tenant.provisioned.v1')).toHaveLength(1);
    }
    const workspaces = await query<{ id: string; name: string; status: string }>(
      `SELECT id, "displayName" AS name, "activationStatus" AS status FROM core.workspace WHERE "displayName" LIKE 'Outage Org %'`,
    );
    expect(workspaces.map((w) => w.id).sort()).toEqual(acknowledged.map((d) => d.tenantId).sort());
    expect(workspaces.every((w) => w.status === 'ACTIVE')).toBe(true);
    const users = await query<{ n: number }>(
      'SELECT count(*)::int AS n FROM core."user" WHERE "defaultWorkspaceId" = ANY($1::uuid[])',
      [acknowledged.map((d) => d.tenantId)],
    );
    expect(users[0]?.n).toBe(acknowledged.length);
  }, 900_000);
});

async function activeCount(): Promise<number> {
  const rows = await query<{ n: number }>(
    `SELECT count(*)::int AS n FROM core.workspace WHERE "displayName" LIKE 'Outage Org %' AND "activationStatus" = 'ACTIVE'`,
  );
  return rows[0]?.n ?? 0;
}
