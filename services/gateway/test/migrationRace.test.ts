import { holdTenantWrites, withDatabase } from '@ttm/data-plane';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminFetch, type SignedUp, signUp } from '../../../test/support/http.js';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { withClient } from '../../../test/support/tenants.js';
import type { MigrationOperation } from '../src/features/migrations/view.js';
import type { Problem } from '../src/problems.js';

/**
 * Issue 12 item 7: a migration never loses a write. The gateway here is blind to the KV freeze
 * (as one whose watch broke would be), so only the source database's write gate stands between
 * its writes and the copy. How many migrations race the writers: MIGRATION_RACE_ITERATIONS.
 */
const ITERATIONS = Math.max(1, Number(process.env.MIGRATION_RACE_ITERATIONS ?? 6));
const WRITERS = 4;

let stack: TestStack;
let tenant: SignedUp;
/** Runs in the backup service right after a migration's freeze step, while the gate is closed. */
let afterFreeze: (migrationId: string) => Promise<void> = async () => undefined;

beforeAll(async () => {
  stack = await startStack({
    backup: false,
    env: {
      BACKUP_SCHEDULE_EVERY: '0',
      MIGRATION_SOURCE_GRACE: '0',
      ENABLE_RATE_LIMITING: 'false',
    },
  });
  await stack.startBackup({
    hooks: {
      afterMigrationStep: async (migrationId, step) => {
        if (step === 'freeze') await afterFreeze(migrationId);
      },
    },
  });
  tenant = await signUp(stack.gateway!, {
    name: `Race ${Date.now()}`,
    email: `race-${Date.now()}@example.com`,
    password: 'Correct-Horse-Battery-9',
    plan: 'pro',
  });
  // A gateway whose freeze watch never delivers: every write reaches the data plane.
  vi.spyOn(stack.gateway!.deps.freezes, 'check').mockReturnValue(undefined);
}, 90_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await stack?.stop();
});

const admin = adminFetch(() => stack.url);

function placementNow() {
  const placement = stack.gateway!.deps.directory.get(tenant.entry.tenantId)?.placement;
  if (!placement) throw new Error('the tenant has no placement');
  return placement;
}

function databaseUrl(placement: ReturnType<typeof placementNow>): string {
  const region = placement.region as keyof TestStack['clusterUrls'];
  return withDatabase(stack.clusterUrls[region], placement.database);
}

function createCompany(name: string): Promise<Response> {
  return fetch(`${stack.url}/api/tenant/objects/company`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
}

/** Start a migration to the other region; resolves once it succeeded and the gateway routes to the target. */
async function migrateAway(): Promise<{ operationId: string; region: string }> {
  const region = placementNow().region === 'us-east-1' ? 'eu-west-1' : 'us-east-1';
  const response = await admin(`/api/admin/tenants/${tenant.entry.tenantId}/migrate`, {
    method: 'POST',
    body: JSON.stringify({ target_region: region }),
  });
  const text = await response.text();
  expect(response.status, text).toBe(202);
  return { operationId: (JSON.parse(text) as { operation_id: string }).operation_id, region };
}

async function finished(operationId: string, region: string): Promise<void> {
  const operation = await eventually(async () => {
    const response = await admin(`/api/operations/${operationId}`);
    if (response.status !== 200) return undefined;
    const body = (await response.json()) as MigrationOperation;
    return body.status === 'succeeded' || body.status === 'failed' ? body : undefined;
  }, 60_000);
  expect(operation.status, JSON.stringify(operation)).toBe('succeeded');
  await eventually(() => (placementNow().region === region ? true : undefined), 20_000);
}

/** The ids of the tenant's companies where it lives now. */
async function companiesAtPlacement(): Promise<Set<string>> {
  const placement = placementNow();
  return withClient(databaseUrl(placement), async (client) => {
    const { rows } = await client.query<{ id: string }>(
      `SELECT id FROM ${pg.escapeIdentifier(placement.schema)}.company`,
    );
    return new Set(rows.map((r) => r.id));
  });
}

describe('the source database refuses tenant writes once a migration froze the tenant', () => {
  it('a write from a gateway that has not seen the freeze gets 503 problem+json with Retry-After', async () => {
    const seen: { status: number; retryAfter: string | null; problem: Problem }[] = [];
    afterFreeze = async () => {
      const response = await createCompany('after the freeze');
      seen.push({
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        problem: (await response.json()) as Problem,
      });
    };
    try {
      const { operationId, region } = await migrateAway();
      await finished(operationId, region);
    } finally {
      afterFreeze = async () => undefined;
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ status: 503, problem: { code: 'TTM_TENANT_WRITES_FROZEN' } });
    expect(Number(seen[0]!.retryAfter)).toBeGreaterThan(0);
    // After the move, writes land on the target again.
    expect((await createCompany('after the move')).status).toBe(201);
  }, 120_000);

  it('a write in progress when the migration freezes is waited for, and is on the target', async () => {
    const source = placementNow();
    const tenantId = tenant.entry.tenantId;
    const writer = new pg.Client({ connectionString: databaseUrl(source) });
    await writer.connect();
    try {
      // A write past the gate, as a gateway's would be, not committed yet.
      await writer.query('BEGIN');
      expect(await holdTenantWrites(writer, tenantId)).toBeUndefined();
      const { rows } = await writer.query<{ id: string }>(
        `INSERT INTO ${pg.escapeIdentifier(source.schema)}.company (name) VALUES ('in flight') RETURNING id`,
      );
      const { operationId, region } = await migrateAway();
      // The freeze waits for the write's transaction: its exclusive gate lock is queued behind ours.
      await withClient(databaseUrl(source), (observer) =>
        eventually(async () => {
          const waiting = await observer.query(
            `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND mode = 'ExclusiveLock'
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          );
          return waiting.rowCount ? true : undefined;
        }, 30_000),
      );
      await writer.query('COMMIT');
      await finished(operationId, region);
      expect(await companiesAtPlacement()).toContain(rows[0]!.id);
    } finally {
      await writer.end();
    }
  }, 120_000);
});

describe('writes racing migrations', () => {
  it(`every acknowledged write is on the target, over ${ITERATIONS} migrations`, async () => {
    const acknowledged: string[] = [];
    const refused = new Map<number, number>();
    for (let iteration = 0; iteration < ITERATIONS; iteration++) {
      let running = true;
      let n = 0;
      const writers = Array.from({ length: WRITERS }, async (_, w) => {
        while (running) {
          const response = await createCompany(`race ${iteration}.${w}.${n++}`);
          if (response.status >= 200 && response.status < 300) {
            acknowledged.push(((await response.json()) as { id: string }).id);
          } else {
            await response.arrayBuffer();
            refused.set(response.status, (refused.get(response.status) ?? 0) + 1);
          }
        }
      });
      try {
        const { operationId, region } = await migrateAway();
        await finished(operationId, region);
      } finally {
        running = false;
        await Promise.all(writers);
      }
      const present = await companiesAtPlacement();
      const lost = acknowledged.filter((id) => !present.has(id));
      expect(lost, `iteration ${iteration}: acknowledged writes missing at the target`).toEqual([]);
    }
    expect(acknowledged.length).toBeGreaterThan(0);
    // Anything refused was refused as "frozen" (503), never failed half-way.
    expect([...refused.keys()].filter((status) => status !== 503)).toEqual([]);
  }, 600_000);
});
