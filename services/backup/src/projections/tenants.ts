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
 * `backup.tenants`: each tenant's plan and status, for the scheduler. Each statement is keyed by
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

/** Set each tenant's status, one statement for all. */
async function setStatus(client: PoolClient, events: readonly ReceivedEvent<{ tenantId: string }>[], status: string) {
  await client.query(
    `UPDATE backup.tenants t SET status = $2, last_seq = r.seq
       FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, seq bigint)
      WHERE t.tenant_id = r.tenant_id`,
    [JSON.stringify(events.map(({ data, seq }) => ({ tenant_id: data.tenantId, seq }))), status],
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
  onMany(TenantProvisioned, (events, client) => setStatus(client, events, 'active')),
  onMany(ProvisioningFailed, (events, client) => setStatus(client, events, 'failed')),
  onMany(ProvisioningRetried, (events, client) => setStatus(client, events, 'provisioning')),
  onMany(TenantSuspended, (events, client) => setStatus(client, events, 'suspended')),
  onMany(TenantActivated, (events, client) => setStatus(client, events, 'active')),
  // An archived tenant has nothing to back up until it is back.
  onMany(TenantArchived, (events, client) => setStatus(client, events, 'archived')),
  onMany(TenantUnarchived, (events, client) => setStatus(client, events, 'active')),
]);
