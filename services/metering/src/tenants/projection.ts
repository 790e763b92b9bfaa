import { Consumers, consumerDefinition, type Placement, TenantEvents } from '@ttm/contracts';
import { eventAppliers, on, type PoolClient, type ProjectionDefinition, type ReceivedEvent } from '@ttm/service-kit';

export const METERING_SCHEMA = 'metering';

const consumer = consumerDefinition(Consumers.meteringTenants);

/**
 * The tenants metering samples and where their data lives: one row per tenant with its status
 * and placement, from the tenant events. Each statement is keyed by tenant, so replaying the
 * events in stream order gives the same rows.
 */
export const meteringTenantsProjection: ProjectionDefinition = {
  name: 'metering-tenants',
  schema: METERING_SCHEMA,
  consumer,
  // Statements keyed by tenant, results never read: a batch goes in one round trip.
  writesOnly: true,
  apply: (client, event) => appliers.apply(client, event),
  async reset(client) {
    await client.query(`TRUNCATE ${METERING_SCHEMA}.tenants`);
  },
};

async function place(
  client: PoolClient,
  event: ReceivedEvent,
  tenantId: string,
  placement: Placement,
  status?: string,
) {
  await client.query(
    `UPDATE ${METERING_SCHEMA}.tenants
        SET region = $2, cluster = $3, placement_kind = $4, database = $5, schema = $6,
            status = COALESCE($7, status), updated_at = $8, last_event_seq = $9
      WHERE tenant_id = $1`,
    [
      tenantId,
      placement.region,
      placement.cluster,
      placement.kind,
      placement.database,
      placement.schema,
      status ?? null,
      event.meta.time,
      event.seq,
    ],
  );
}

async function setStatus(client: PoolClient, event: ReceivedEvent, tenantId: string, status: string) {
  await client.query(
    `UPDATE ${METERING_SCHEMA}.tenants SET status = $2, updated_at = $3, last_event_seq = $4 WHERE tenant_id = $1`,
    [tenantId, status, event.meta.time, event.seq],
  );
}

const appliers = eventAppliers(
  on(TenantEvents.registered, async (event, client) => {
    const e = event.data;
    await client.query(
      `INSERT INTO ${METERING_SCHEMA}.tenants (tenant_id, status, region, updated_at, last_event_seq)
       VALUES ($1, 'registered', $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING`,
      [e.tenantId, e.region, event.meta.time, event.seq],
    );
  }),
  on(TenantEvents.provisioningStepCompleted, async (event, client) => {
    const e = event.data;
    if (e.placement) await place(client, event, e.tenantId, e.placement);
  }),
  on(TenantEvents.provisioned, async (event, client) => {
    const e = event.data;
    await place(client, event, e.tenantId, e.placement, 'active');
  }),
  on(TenantEvents.provisioningFailed, async (event, client) => {
    const e = event.data;
    // Compensation removed the workspace: nothing is left to sample.
    await setStatus(client, event, e.tenantId, 'failed');
  }),
  on(TenantEvents.suspended, async (event, client) => {
    const e = event.data;
    await setStatus(client, event, e.tenantId, 'suspended');
  }),
  on(TenantEvents.activated, async (event, client) => {
    const e = event.data;
    await setStatus(client, event, e.tenantId, 'active');
  }),
  on(TenantEvents.placementChanged, async (event, client) => {
    // A migration moved the workspace: storage is sampled at the new placement from now on.
    const e = event.data;
    await place(client, event, e.tenantId, e.to);
  }),
);
