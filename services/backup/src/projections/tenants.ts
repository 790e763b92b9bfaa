import {
  Consumers,
  consumerDefinition,
  ProvisioningFailed,
  ProvisioningRetried,
  TenantActivated,
  TenantArchived,
  TenantProvisioned,
  TenantRegistered,
  TenantSuspended,
  TenantUnarchived,
} from '@ttm/contracts';
import { onMany, type PoolClient, type ProjectionDefinition, type ReceivedEvent, setAppliers } from '@ttm/service-kit';
import { BACKUP_SCHEMA } from '../shared/index.js';

/**
 * `backup.tenants`: each tenant's plan, status and since when it is active, for the scheduler and
 * the idle sweep. Each statement is keyed by
 * tenant, so the events of different tenants commute and a batch applies each event type in one
 * statement (set-based: `setAppliers`).
 */
export const tenantsProjection: ProjectionDefinition = {
  name: 'tenants',
  schema: BACKUP_SCHEMA,
  consumer: consumerDefinition(Consumers.backupTenants),
  // Statements keyed by tenant, results never read: a batch goes in one round trip.
  writesOnly: true,
  apply: (client, event) => appliers.apply(client, event),
  applyMany: (client, events) => appliers.applyMany(client, events),
  async reset(client) {
    await client.query('TRUNCATE backup.tenants');
  },
};

/**
 * Set each tenant's status, one statement for all. `activeSince` (provisioned, reactivated, brought
 * back from an archive) starts the tenant's idle clock when it has not signed in or called the API
 * since; from the event, so a replay gives the same value.
 */
async function setStatus<D extends { tenantId: string }>(
  client: PoolClient,
  events: readonly ReceivedEvent<D>[],
  status: string,
  activeSince?: (data: D) => string,
) {
  await client.query(
    `UPDATE backup.tenants t SET status = $2, last_seq = r.seq, active_since = COALESCE(r.active_since, t.active_since)
       FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, seq bigint, active_since timestamptz)
      WHERE t.tenant_id = r.tenant_id`,
    [
      JSON.stringify(
        events.map(({ data, seq }) => ({ tenant_id: data.tenantId, seq, active_since: activeSince?.(data) ?? null })),
      ),
      status,
    ],
  );
}

const appliers = setAppliers([
  onMany(TenantRegistered, async (events, client) => {
    await client.query(
      `INSERT INTO backup.tenants (tenant_id, plan, status, last_seq)
       SELECT tenant_id, plan, 'provisioning', seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, plan text, seq bigint)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [JSON.stringify(events.map(({ data: e, seq }) => ({ tenant_id: e.tenantId, plan: e.plan, seq })))],
    );
  }),
  onMany(TenantProvisioned, (events, client) => setStatus(client, events, 'active', (e) => e.provisionedAt)),
  onMany(ProvisioningFailed, (events, client) => setStatus(client, events, 'failed')),
  onMany(ProvisioningRetried, (events, client) => setStatus(client, events, 'provisioning')),
  onMany(TenantSuspended, (events, client) => setStatus(client, events, 'suspended')),
  onMany(TenantActivated, (events, client) => setStatus(client, events, 'active', (e) => e.activatedAt)),
  // An archived tenant has nothing to back up until it is back.
  onMany(TenantArchived, (events, client) => setStatus(client, events, 'archived')),
  onMany(TenantUnarchived, (events, client) => setStatus(client, events, 'active', (e) => e.unarchivedAt)),
]);
