import {
  Consumers,
  consumerDefinition,
  type DataOf,
  ProvisioningFailed,
  ProvisioningStepCompleted,
  TenantActivated,
  TenantPlacementChanged,
  TenantProvisioned,
  TenantRegistered,
  TenantSuspended,
} from '@ttm/contracts';
import type { PoolClient, ProjectionDefinition, ReceivedEvent } from '@ttm/service-kit';

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
  async apply(client, event) {
    const handler = handlers[event.meta.type];
    if (handler) await handler(client, event);
  },
  async reset(client) {
    await client.query(`TRUNCATE ${METERING_SCHEMA}.tenants`);
  },
};

type Handler = (client: PoolClient, event: ReceivedEvent) => Promise<void>;

type Placement = DataOf<typeof TenantProvisioned>['placement'];

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

const handlers: Record<string, Handler> = {
  [TenantRegistered.type]: async (client, event) => {
    const e = event.data as DataOf<typeof TenantRegistered>;
    await client.query(
      `INSERT INTO ${METERING_SCHEMA}.tenants (tenant_id, status, region, updated_at, last_event_seq)
       VALUES ($1, 'registered', $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING`,
      [e.tenantId, e.region, event.meta.time, event.seq],
    );
  },
  [ProvisioningStepCompleted.type]: async (client, event) => {
    const e = event.data as DataOf<typeof ProvisioningStepCompleted>;
    if (e.placement) await place(client, event, e.tenantId, e.placement);
  },
  [TenantProvisioned.type]: async (client, event) => {
    const e = event.data as DataOf<typeof TenantProvisioned>;
    await place(client, event, e.tenantId, e.placement, 'active');
  },
  [ProvisioningFailed.type]: async (client, event) => {
    const e = event.data as DataOf<typeof ProvisioningFailed>;
    // Compensation removed the workspace: nothing is left to sample.
    await setStatus(client, event, e.tenantId, 'failed');
  },
  [TenantSuspended.type]: async (client, event) => {
    const e = event.data as DataOf<typeof TenantSuspended>;
    await setStatus(client, event, e.tenantId, 'suspended');
  },
  [TenantActivated.type]: async (client, event) => {
    const e = event.data as DataOf<typeof TenantActivated>;
    await setStatus(client, event, e.tenantId, 'active');
  },
  [TenantPlacementChanged.type]: async (client, event) => {
    // A migration moved the workspace: storage is sampled at the new placement from now on.
    const e = event.data as DataOf<typeof TenantPlacementChanged>;
    await place(client, event, e.tenantId, e.to);
  },
};
