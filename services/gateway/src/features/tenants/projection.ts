import { Consumers, consumerDefinition, TenantEvents } from '@ttm/contracts';
import { eventAppliers, on, type ProjectionDefinition } from '@ttm/service-kit';

export const GATEWAY_SCHEMA = 'gateway';

const consumer = consumerDefinition(Consumers.gatewayTenants);

/**
 * The gateway's tenant list: one row per tenant with its status and provisioning
 * progress, for the admin API and provisioning status, and each tenant's provisioning as
 * a row of `operations` (the model every long-running operation shares). Every statement
 * is keyed by tenant or operation id, so applying events in stream order always gives the
 * same rows.
 */
export const tenantsProjection: ProjectionDefinition = {
  name: 'gateway-tenants',
  schema: GATEWAY_SCHEMA,
  consumer,
  // Statements keyed by tenant or operation, results never read: a batch goes in one round trip.
  writesOnly: true,
  apply: (client, event) => appliers.apply(client, event),
  async reset(client) {
    await client.query(`TRUNCATE ${GATEWAY_SCHEMA}.tenants, ${GATEWAY_SCHEMA}.operations`);
  },
};

const appliers = eventAppliers(
  on(TenantEvents.registered, async (event, client) => {
    const e = event.data;
    await client.query(
      `INSERT INTO ${GATEWAY_SCHEMA}.tenants
         (tenant_id, provisioning_id, organization_name, admin_email, plan, region, status, progress, step,
          registered_at, updated_at, last_event_seq)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, NULL, $7, $8, $9)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [
        e.tenantId,
        e.provisioningId,
        e.organizationName,
        e.adminEmail,
        e.plan,
        e.region,
        e.registeredAt,
        event.meta.time,
        event.seq,
      ],
    );
    await client.query(
      `INSERT INTO ${GATEWAY_SCHEMA}.operations
         (operation_id, kind, tenant_id, status, progress, step, started_at, updated_at, last_event_seq)
       VALUES ($1, 'provisioning', $2, 'pending', 0, NULL, $3, $4, $5)
       ON CONFLICT (operation_id) DO NOTHING`,
      [e.provisioningId, e.tenantId, e.registeredAt, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.provisioningStepCompleted, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = CASE WHEN status = 'pending' THEN 'provisioning' ELSE status END,
              progress = GREATEST(progress, $2), step = $3,
              slug = COALESCE($4, slug), placement = COALESCE($5::jsonb, placement),
              updated_at = $6, last_event_seq = $7
        WHERE tenant_id = $1`,
      [
        e.tenantId,
        e.progress,
        e.step,
        e.slug ?? null,
        e.placement ? JSON.stringify(e.placement) : null,
        event.meta.time,
        event.seq,
      ],
    );
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.operations
          SET status = CASE WHEN status = 'pending' THEN 'running' ELSE status END,
              progress = GREATEST(progress, $2), step = $3, updated_at = $4, last_event_seq = $5
        WHERE operation_id = $1`,
      [e.provisioningId, e.progress, e.step, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.provisioned, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = 'active', progress = 100, step = 'activate', slug = $2, placement = $3::jsonb,
              provisioned_at = $4, updated_at = $5, last_event_seq = $6
        WHERE tenant_id = $1`,
      [e.tenantId, e.slug, JSON.stringify(e.placement), e.provisionedAt, event.meta.time, event.seq],
    );
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.operations
          SET status = 'succeeded', progress = 100, step = 'activate', result = $2::jsonb, error = NULL,
              finished_at = $3, updated_at = $4, last_event_seq = $5
        WHERE operation_id = $1`,
      [
        e.provisioningId,
        JSON.stringify({ tenant_id: e.tenantId, slug: e.slug }),
        e.provisionedAt,
        event.meta.time,
        event.seq,
      ],
    );
  }),
  on(TenantEvents.provisioningFailed, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = 'failed', step = $2, error = $3, updated_at = $4, last_event_seq = $5
        WHERE tenant_id = $1`,
      [e.tenantId, e.step, e.reason, event.meta.time, event.seq],
    );
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.operations
          SET status = 'failed', step = $2, error = $3, finished_at = $4, updated_at = $5, last_event_seq = $6
        WHERE operation_id = $1`,
      [e.provisioningId, e.step, e.reason, e.failedAt, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.provisioningRetried, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = 'provisioning', step = $2, error = NULL, updated_at = $3, last_event_seq = $4
        WHERE tenant_id = $1`,
      [e.tenantId, e.resumeAt, event.meta.time, event.seq],
    );
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.operations
          SET status = 'running', step = $2, error = NULL, finished_at = NULL, updated_at = $3, last_event_seq = $4
        WHERE operation_id = $1`,
      [e.provisioningId, e.resumeAt, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.suspended, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = 'suspended', suspended_reason = $2, updated_at = $3, last_event_seq = $4
        WHERE tenant_id = $1`,
      [e.tenantId, e.reason, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.placementChanged, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET placement = $2::jsonb, region = $3, updated_at = $4, last_event_seq = $5
        WHERE tenant_id = $1`,
      [e.tenantId, JSON.stringify(e.to), e.to.region, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.archived, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = 'archived', archive_backup_id = $2, updated_at = $3, last_event_seq = $4
        WHERE tenant_id = $1`,
      [e.tenantId, e.backupId, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.unarchived, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = 'active', archive_backup_id = NULL, updated_at = $2, last_event_seq = $3
        WHERE tenant_id = $1`,
      [e.tenantId, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.activated, async (event, client) => {
    const e = event.data;
    await client.query(
      `UPDATE ${GATEWAY_SCHEMA}.tenants
          SET status = 'active', suspended_reason = NULL, updated_at = $2, last_event_seq = $3
        WHERE tenant_id = $1`,
      [e.tenantId, event.meta.time, event.seq],
    );
  }),
);
