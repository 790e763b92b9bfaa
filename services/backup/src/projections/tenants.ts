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
import { isMessage, type ProjectionDefinition } from '@ttm/service-kit';
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

/** `backup.tenants`: each tenant's plan and status, for the scheduler. */
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
    await client.query('UPDATE backup.tenants SET status = $2, last_seq = $3 WHERE tenant_id = $1', [
      (event.data as { tenantId: string }).tenantId,
      status,
      event.seq,
    ]);
  },
  async reset(client) {
    await client.query('TRUNCATE backup.tenants');
  },
};
