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
import { isMessage, type ProjectionDefinition, type ReceivedEvent } from '@ttm/service-kit';
import { BACKUP_SCHEMA } from '../shared/index.js';

const statusOf: Record<string, string> = {
  [TenantProvisioned.type]: 'active',
  [ProvisioningFailed.type]: 'failed',
  [ProvisioningRetried.type]: 'provisioning',
  [TenantSuspended.type]: 'suspended',
  [TenantActivated.type]: 'active',
  // An archived tenant has nothing to back up until it is back.
  [TenantArchived.type]: 'archived',
  [TenantUnarchived.type]: 'active',
};

/**
 * When a tenant became active (provisioned, reactivated, brought back from an archive): the start
 * of its idle clock when it has not signed in or called the API since. From the event, so a replay
 * gives the same value.
 */
function activeSinceOf(event: ReceivedEvent): string | null {
  if (isMessage(event, TenantProvisioned)) return event.data.provisionedAt;
  if (isMessage(event, TenantActivated)) return event.data.activatedAt;
  if (isMessage(event, TenantUnarchived)) return event.data.unarchivedAt;
  return null;
}

/** `backup.tenants`: each tenant's plan, status and since when it is active, for the scheduler and the idle sweep. */
export const tenantsProjection: ProjectionDefinition = {
  name: 'tenants',
  schema: BACKUP_SCHEMA,
  consumer: consumerDefinition(Consumers.backupTenants),
  // Statements keyed by tenant, results never read: a batch goes in one round trip.
  writesOnly: true,
  async apply(client, event) {
    if (isMessage(event, TenantRegistered)) {
      const e = event.data;
      await client.query(
        `INSERT INTO backup.tenants (tenant_id, plan, status, last_seq) VALUES ($1, $2, 'provisioning', $3)
         ON CONFLICT (tenant_id) DO NOTHING`,
        [e.tenantId, e.plan, event.seq],
      );
      return;
    }
    const status = statusOf[event.meta.type];
    if (!status) return;
    await client.query(
      `UPDATE backup.tenants SET status = $2, last_seq = $3, active_since = COALESCE($4, active_since)
        WHERE tenant_id = $1`,
      [(event.data as { tenantId: string }).tenantId, status, event.seq, activeSinceOf(event)],
    );
  },
  async reset(client) {
    await client.query('TRUNCATE backup.tenants');
  },
};
