import { randomUUID } from 'node:crypto';
import { QuotaWarning, TenantEvents, WebhookEndpointDisabled } from '@ttm/contracts';
import { applyOneByOneAndInBatches, interleave, migratedTestDatabase, tenantHistory } from '@ttm/service-kit/testing';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOKS_SCHEMA } from '../src/endpoints/store.js';
import { eventsFanOut } from '../src/fanout/projection.js';

const migrations = new URL('../migrations', import.meta.url).pathname;
let one: Awaited<ReturnType<typeof migratedTestDatabase>>;
let many: Awaited<ReturnType<typeof migratedTestDatabase>>;

beforeAll(async () => {
  one = await migratedTestDatabase('ttm_test_webhook_fanout', WEBHOOKS_SCHEMA, migrations);
  many = await migratedTestDatabase('ttm_test_webhook_fanout', WEBHOOKS_SCHEMA, migrations);
});

afterAll(async () => {
  await Promise.all([one?.close(), many?.close()]);
});

const types = ['tenant.suspended', 'tenant.activated', 'tenant.provisioning-failed', 'quota.warning'];

/** Enabled endpoints of the fleet and of one tenant, and ones that must get nothing, in each database. */
async function endpoints(pools: pg.Pool[], tenantId: string) {
  const endpoint = (owner: string, eventTypes: string[], tenant: string | null, extra = {}) => ({
    id: randomUUID(),
    owner,
    event_types: eventTypes,
    tenant_id: tenant,
    status: 'enabled',
    removed: false,
    ...extra,
  });
  const rows = [
    endpoint('operator', [...types, 'webhook.endpoint-disabled'], null),
    endpoint('operator', ['tenant.suspended'], tenantId),
    endpoint('tenant', [...types, 'webhook.endpoint-disabled'], tenantId),
    endpoint('operator', types, null, { status: 'disabled' }),
    endpoint('operator', types, null, { removed: true }),
  ];
  for (const pool of pools) {
    await pool.query(
      `INSERT INTO ${WEBHOOKS_SCHEMA}.endpoints (id, url, event_types, tenant_id, owner, secret, status, removed_at)
     SELECT id, 'https://hooks.example.test/' || id, event_types, tenant_id, owner, 'whsec_test', status,
            CASE WHEN removed THEN now() END
       FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, event_types text[], tenant_id uuid, owner text, status text,
            removed boolean)`,
      [JSON.stringify(rows)],
    );
  }
}

async function rows(pool: pg.Pool) {
  const { rows } = await pool.query(
    `SELECT id, endpoint_id, event_id, event_type, tenant_id, payload, status, attempts
       FROM ${WEBHOOKS_SCHEMA}.deliveries ORDER BY id`,
  );
  return rows;
}

describe('the webhook fan-out projection', () => {
  it('makes the same deliveries applying batches in one statement as one event at a time', async () => {
    const tenantEvents = tenantHistory(20);
    const tenantIds = tenantEvents
      .filter((event) => event.meta.type === TenantEvents.registered.type)
      .map((event) => event.subject.replace('evt.tenant.', ''));
    const at = '2026-12-05T12:00:00.000Z';
    // Quota notices and operator-only notices, interleaved with the tenants' own events.
    const notices = interleave(
      tenantIds.map((tenantId) => ({
        subject: `evt.quota.${tenantId}`,
        events: [
          {
            type: QuotaWarning.type,
            data: { tenantId, meter: 'api_calls', window: at, used: 90, limit: 100, at, thresholdPercent: 80 },
            time: at,
          },
          {
            type: WebhookEndpointDisabled.type,
            data: {
              endpointId: randomUUID(),
              tenantId,
              url: 'https://hooks.example.test/x',
              consecutiveFailures: 12,
              failingSince: at,
              disabledAt: at,
            },
            time: at,
          },
        ],
      })),
    );
    const events = [...tenantEvents, ...notices].map((event, i) => ({ ...event, seq: i + 1 }));
    await endpoints([one.pool, many.pool], tenantIds[0]!);
    await applyOneByOneAndInBatches(eventsFanOut, one.pool, many.pool, events);
    const expected = await rows(one.pool);
    // Per tenant: 2 from the fleet endpoint (quota warning, endpoint disabled) + its suspensions and so on.
    expect(expected.filter((d) => d.event_type === 'webhook.endpoint-disabled')).toHaveLength(20);
    expect(expected.filter((d) => d.event_type === 'quota.warning')).toHaveLength(21);
    expect(await rows(many.pool)).toEqual(expected);
  });
});
