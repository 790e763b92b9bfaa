import { Consumers, consumerDefinition, TenantEvents } from '@ttm/contracts';
import { onMany, type PoolClient, type ProjectionDefinition, setAppliers } from '@ttm/service-kit';

export const GATEWAY_SCHEMA = 'gateway';

const consumer = consumerDefinition(Consumers.gatewayTenants);

/**
 * The gateway's tenant list: one row per tenant with its status and provisioning
 * progress, for the admin API and provisioning status, and each tenant's provisioning as
 * a row of `operations` (the model every long-running operation shares). Every statement
 * is keyed by the tenant's id or its provisioning's, so applying events in stream order always
 * gives the same rows, and the events of different tenants commute (what lets a batch apply
 * each event type in one statement per table).
 */
export const tenantsProjection: ProjectionDefinition = {
  name: 'gateway-tenants',
  schema: GATEWAY_SCHEMA,
  consumer,
  // Statements keyed by tenant or operation, results never read: a batch goes in one round trip,
  // and its events of one type go in one statement per table (set-based: `setAppliers`).
  writesOnly: true,
  apply: (client, event) => appliers.apply(client, event),
  applyMany: (client, events) => appliers.applyMany(client, events),
  async reset(client) {
    await client.query(`TRUNCATE ${GATEWAY_SCHEMA}.tenants, ${GATEWAY_SCHEMA}.operations`);
  },
};

/** `statement` with `$1` bound to the rows as one JSON array (read back with `jsonb_to_recordset`). */
async function withRows(client: PoolClient, statement: string, rows: readonly Record<string, unknown>[]) {
  await client.query(statement, [JSON.stringify(rows)]);
}

const T = `${GATEWAY_SCHEMA}.tenants`;
const O = `${GATEWAY_SCHEMA}.operations`;

const appliers = setAppliers([
  onMany(TenantEvents.registered, async (events, client) => {
    const rows = events.map(({ data: e, meta, seq }) => ({
      tenant_id: e.tenantId,
      provisioning_id: e.provisioningId,
      organization_name: e.organizationName,
      admin_email: e.adminEmail,
      plan: e.plan,
      region: e.region,
      registered_at: e.registeredAt,
      updated_at: meta.time,
      seq,
    }));
    await withRows(
      client,
      `INSERT INTO ${T}
         (tenant_id, provisioning_id, organization_name, admin_email, plan, region, status, progress, step,
          registered_at, updated_at, last_event_seq)
       SELECT tenant_id, provisioning_id, organization_name, admin_email, plan, region, 'pending', 0, NULL,
              registered_at, updated_at, seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, provisioning_id uuid, organization_name text,
              admin_email text, plan text, region text, registered_at timestamptz, updated_at timestamptz, seq bigint)
       ON CONFLICT (tenant_id) DO NOTHING`,
      rows,
    );
    await withRows(
      client,
      `INSERT INTO ${O}
         (operation_id, kind, tenant_id, status, progress, step, started_at, updated_at, last_event_seq)
       SELECT provisioning_id, 'provisioning', tenant_id, 'pending', 0, NULL, registered_at, updated_at, seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, provisioning_id uuid, registered_at timestamptz,
              updated_at timestamptz, seq bigint)
       ON CONFLICT (operation_id) DO NOTHING`,
      rows,
    );
  }),
  onMany(TenantEvents.provisioningStepCompleted, async (events, client) => {
    const rows = events.map(({ data: e, meta, seq }) => ({
      tenant_id: e.tenantId,
      provisioning_id: e.provisioningId,
      progress: e.progress,
      step: e.step,
      slug: e.slug ?? null,
      placement: e.placement ?? null,
      updated_at: meta.time,
      seq,
    }));
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = CASE WHEN t.status = 'pending' THEN 'provisioning' ELSE t.status END,
              progress = GREATEST(t.progress, r.progress), step = r.step,
              slug = COALESCE(r.slug, t.slug), placement = COALESCE(r.placement, t.placement),
              updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, progress smallint, step text, slug text,
              placement jsonb, updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      rows,
    );
    await withRows(
      client,
      `UPDATE ${O} o
          SET status = CASE WHEN o.status = 'pending' THEN 'running' ELSE o.status END,
              progress = GREATEST(o.progress, r.progress), step = r.step, updated_at = r.updated_at,
              last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(provisioning_id uuid, progress smallint, step text,
              updated_at timestamptz, seq bigint)
        WHERE o.operation_id = r.provisioning_id`,
      rows,
    );
  }),
  onMany(TenantEvents.provisioned, async (events, client) => {
    const rows = events.map(({ data: e, meta, seq }) => ({
      tenant_id: e.tenantId,
      provisioning_id: e.provisioningId,
      slug: e.slug,
      placement: e.placement,
      result: { tenant_id: e.tenantId, slug: e.slug },
      provisioned_at: e.provisionedAt,
      updated_at: meta.time,
      seq,
    }));
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = 'active', progress = 100, step = 'activate', slug = r.slug, placement = r.placement,
              provisioned_at = r.provisioned_at, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, slug text, placement jsonb,
              provisioned_at timestamptz, updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      rows,
    );
    await withRows(
      client,
      `UPDATE ${O} o
          SET status = 'succeeded', progress = 100, step = 'activate', result = r.result, error = NULL,
              finished_at = r.provisioned_at, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(provisioning_id uuid, result jsonb, provisioned_at timestamptz,
              updated_at timestamptz, seq bigint)
        WHERE o.operation_id = r.provisioning_id`,
      rows,
    );
  }),
  onMany(TenantEvents.provisioningFailed, async (events, client) => {
    const rows = events.map(({ data: e, meta, seq }) => ({
      tenant_id: e.tenantId,
      provisioning_id: e.provisioningId,
      step: e.step,
      error: e.reason,
      failed_at: e.failedAt,
      updated_at: meta.time,
      seq,
    }));
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = 'failed', step = r.step, error = r.error, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, step text, error text, updated_at timestamptz,
              seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      rows,
    );
    await withRows(
      client,
      `UPDATE ${O} o
          SET status = 'failed', step = r.step, error = r.error, finished_at = r.failed_at,
              updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(provisioning_id uuid, step text, error text,
              failed_at timestamptz, updated_at timestamptz, seq bigint)
        WHERE o.operation_id = r.provisioning_id`,
      rows,
    );
  }),
  onMany(TenantEvents.provisioningRetried, async (events, client) => {
    const rows = events.map(({ data: e, meta, seq }) => ({
      tenant_id: e.tenantId,
      provisioning_id: e.provisioningId,
      step: e.resumeAt,
      updated_at: meta.time,
      seq,
    }));
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = 'provisioning', step = r.step, error = NULL, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, step text, updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      rows,
    );
    await withRows(
      client,
      `UPDATE ${O} o
          SET status = 'running', step = r.step, error = NULL, finished_at = NULL, updated_at = r.updated_at,
              last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(provisioning_id uuid, step text, updated_at timestamptz, seq bigint)
        WHERE o.operation_id = r.provisioning_id`,
      rows,
    );
  }),
  onMany(TenantEvents.suspended, async (events, client) => {
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = 'suspended', suspended_reason = r.reason, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, reason text, updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      events.map(({ data: e, meta, seq }) => ({ tenant_id: e.tenantId, reason: e.reason, updated_at: meta.time, seq })),
    );
  }),
  onMany(TenantEvents.placementChanged, async (events, client) => {
    await withRows(
      client,
      `UPDATE ${T} t
          SET placement = r.placement, region = r.region, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, placement jsonb, region text,
              updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      events.map(({ data: e, meta, seq }) => ({
        tenant_id: e.tenantId,
        placement: e.to,
        region: e.to.region,
        updated_at: meta.time,
        seq,
      })),
    );
  }),
  onMany(TenantEvents.archived, async (events, client) => {
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = 'archived', archive_backup_id = r.backup_id, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, backup_id uuid, updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      events.map(({ data: e, meta, seq }) => ({
        tenant_id: e.tenantId,
        backup_id: e.backupId,
        updated_at: meta.time,
        seq,
      })),
    );
  }),
  onMany(TenantEvents.unarchived, async (events, client) => {
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = 'active', archive_backup_id = NULL, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      events.map(({ data: e, meta, seq }) => ({ tenant_id: e.tenantId, updated_at: meta.time, seq })),
    );
  }),
  onMany(TenantEvents.activated, async (events, client) => {
    await withRows(
      client,
      `UPDATE ${T} t
          SET status = 'active', suspended_reason = NULL, updated_at = r.updated_at, last_event_seq = r.seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, updated_at timestamptz, seq bigint)
        WHERE t.tenant_id = r.tenant_id`,
      events.map(({ data: e, meta, seq }) => ({ tenant_id: e.tenantId, updated_at: meta.time, seq })),
    );
  }),
]);
