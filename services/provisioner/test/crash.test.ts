import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Buckets, Consumers, encodeMessage, RegisterOrganization, Streams, Subjects } from '@ttm/contracts';
import { workspaceSchemaName } from '@ttm/data-plane';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortenAckWait, startCrashing } from '../../../test/support/crashing.js';
import { eventually, startStack, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const crashing = fileURLToPath(new URL('./support/crashingProvisioner.ts', import.meta.url));

let stack: TestStack;
let nc: NatsConnection;

beforeAll(async () => {
  stack = await startStack({
    gateway: false,
    provisioner: false,
    env: { PROVISIONING_STEP_ATTEMPTS: '2' },
  });
  // The stack's own data plane, plus a region whose cluster does not answer (nothing listens on port 9).
  stack.env.REGIONS = JSON.stringify([
    { name: 'us-east-1', clusters: [{ name: 'use1-a', url: stack.clusterUrls['us-east-1'], capacity: 1000 }] },
    { name: 'dead-1', clusters: [{ name: 'dead-a', url: 'postgres://postgres@127.0.0.1:9/nowhere', capacity: 1000 }] },
  ]);
  nc = await connect({ servers: stack.nats.url });
  await shortenAckWait(nc, Streams.COMMANDS, Consumers.provisionerCommands);
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

function registration(organizationName: string, region = 'us-east-1') {
  return {
    provisioningId: randomUUID(),
    tenantId: randomUUID(),
    organizationName,
    adminEmail: 'admin@crash.test',
    adminPasswordHash: HASH,
    plan: 'pro',
    region,
    requestedAt: new Date().toISOString(),
  };
}

async function settled(tenantId: string, timeoutMs = 20_000) {
  return eventually(async () => {
    const { events } = await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId));
    const last = events.at(-1)?.type;
    return last === 'ttm.tenant.provisioned.v1' || last === 'ttm.tenant.provisioning-failed.v1' ? events : undefined;
  }, timeoutMs);
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const client = new pg.Client({ connectionString: stack.clusterUrls['us-east-1'] });
  await client.connect();
  try {
    return (await client.query<{ n: number }>(sql, params)).rows[0]!.n;
  } finally {
    await client.end();
  }
}

describe('provisioner killed mid-saga', () => {
  for (const step of ['reserve-slug', 'place', 'create-workspace', 'apply-quotas', 'activate']) {
    it(`finishes the tenant exactly once after a crash right after ${step}`, async () => {
      const data = registration(`Crash ${step}`);
      const { exited } = startCrashing(crashing, { ...stack.env, CRASH_AFTER_STEP: step });
      await publishMessage(
        jetstream(nc),
        RegisterOrganization.subject,
        encodeMessage(RegisterOrganization, data, { source: '/test' }),
      );
      expect(await exited).toBe('killed');

      await stack.startProvisioner();
      try {
        const events = await settled(data.tenantId);
        expect(events.map((e) => e.type)).toEqual([
          'ttm.tenant.registered.v1',
          ...Array(4).fill('ttm.tenant.provisioning-step-completed.v1'),
          'ttm.tenant.provisioned.v1',
        ]);
        expect(await count('SELECT count(*)::int AS n FROM core.workspace WHERE id = $1', [data.tenantId])).toBe(1);
        expect(
          await count('SELECT count(*)::int AS n FROM core."user" WHERE "defaultWorkspaceId" = $1', [data.tenantId]),
        ).toBe(1);
        expect(
          await count('SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = $1', [
            workspaceSchemaName(data.tenantId),
          ]),
        ).toBe(1);
      } finally {
        await stack.stopProvisioner();
      }
    }, 40_000);
  }
});

describe('a step that keeps failing', () => {
  // An unreachable cluster is a transient error (connection refused): each delivery of the command
  // retries it with backoff and leaves it to the next delivery; on the last one the saga stops with
  // nothing undone, so `tenant-cli retry` resumes at the failed step once the cluster is back.
  it('stops failed with a reason, resumable, keeping its slug for a retry', async () => {
    // Three deliveries, not the contract's 20 (minutes of waiting): the provisioner reads the
    // server's max_deliver, as it would after an operator changed it.
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.update(Streams.COMMANDS, Consumers.provisionerCommands, { max_deliver: 3 });
    await stack.startProvisioner();
    try {
      const data = registration('Doomed Ltd', 'dead-1');
      await publishMessage(
        jetstream(nc),
        RegisterOrganization.subject,
        encodeMessage(RegisterOrganization, data, { source: '/test' }),
      );
      const events = await settled(data.tenantId, 240_000);
      const failed = events.at(-1);
      expect(failed?.type).toBe('ttm.tenant.provisioning-failed.v1');
      expect(failed?.data).toMatchObject({
        step: 'create-workspace',
        reason: expect.stringContaining('create-workspace failed'),
        resumable: true,
      });
      const slugs = await new Kvm(nc).open(Buckets.slugs);
      const slug = await slugs.get('doomed-ltd');
      expect(slug?.operation).toBe('PUT');
    } finally {
      await stack.stopProvisioner();
    }
  }, 270_000);
});
