import { Consumers, consumerDefinition, type Placement, TenantEvents } from '@ttm/contracts';
import { onMany, type PoolClient, type ProjectionDefinition, type ReceivedEvent, setAppliers } from '@ttm/service-kit';

export const METERING_SCHEMA = 'metering';

const consumer = consumerDefinition(Consumers.meteringTenants);

/**
 * The tenants metering samples and where their data lives: one row per tenant with its status
 * and placement, from the tenant events. Each statement is keyed by tenant, so replaying the
 * events in stream order gives the same rows, and the events of different tenants commute (what
 * lets a batch apply each event type in one statement).
 */
export const meteringTenantsProjection: ProjectionDefinition = {
  name: 'metering-tenants',
  schema: METERING_SCHEMA,
  consumer,
  // Statements keyed by tenant, results never read: a batch goes in one round trip, and its
  // events of one type go in one statement (set-based: `setAppliers`).
  writesOnly: true,
  apply: (client, event) => appliers.apply(client, event),
  applyMany: (client, events) => appliers.applyMany(client, events),
  async reset(client) {
    await client.query(`TRUNCATE ${METERING_SCHEMA}.tenants`);
  },
};

const T = `${METERING_SCHEMA}.tenants`;

interface Placed {
  event: ReceivedEvent;
  tenantId: string;
  placement: Placement;
  status?: string;
}

/** Move each tenant to its placement (and set its status when given), one statement for all. */
async function place(client: PoolClient, placed: readonly Placed[]) {
  if (placed.length === 0) return;
  const rows = placed.map(({ event, tenantId, placement, status }) => ({
    tenant_id: tenantId,
    region: placement.region,
    cluster: placement.cluster,
    placement_kind: placement.kind,
    database: placement.database,
    schema: placement.schema,
    status: status ?? null,
    updated_at: event.meta.time,
    seq: event.seq,
  }));
  await client.query(
    `UPDATE ${T} t
        SET region = r.region, cluster = r.cluster, placement_kind = r.placement_kind, database = r.database,
            schema = r.schema, status = COALESCE(r.status, t.status), updated_at = r.updated_at,
            last_event_seq = r.seq
       FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, region text, cluster text, placement_kind text,
            database text, schema text, status text, updated_at timestamptz, seq bigint)
      WHERE t.tenant_id = r.tenant_id`,
    [JSON.stringify(rows)],
  );
}

/** Set each tenant's status, one statement for all. */
async function setStatus(client: PoolClient, events: readonly ReceivedEvent<{ tenantId: string }>[], status: string) {
  await client.query(
    `UPDATE ${T} t SET status = $2, updated_at = r.updated_at, last_event_seq = r.seq
       FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, updated_at timestamptz, seq bigint)
      WHERE t.tenant_id = r.tenant_id`,
    [
      JSON.stringify(events.map(({ data, meta, seq }) => ({ tenant_id: data.tenantId, updated_at: meta.time, seq }))),
      status,
    ],
  );
}

const appliers = setAppliers([
  onMany(TenantEvents.registered, async (events, client) => {
    await client.query(
      `INSERT INTO ${T} (tenant_id, status, region, updated_at, last_event_seq)
       SELECT tenant_id, 'registered', region, updated_at, seq
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, region text, updated_at timestamptz, seq bigint)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [
        JSON.stringify(
          events.map(({ data: e, meta, seq }) => ({
            tenant_id: e.tenantId,
            region: e.region,
            updated_at: meta.time,
            seq,
          })),
        ),
      ],
    );
  }),
  onMany(TenantEvents.provisioningStepCompleted, async (events, client) => {
    const placed: Placed[] = [];
    for (const event of events) {
      if (event.data.placement) placed.push({ event, tenantId: event.data.tenantId, placement: event.data.placement });
    }
    await place(client, placed);
  }),
  onMany(TenantEvents.provisioned, async (events, client) => {
    await place(
      client,
      events.map((event) => ({
        event,
        tenantId: event.data.tenantId,
        placement: event.data.placement,
        status: 'active',
      })),
    );
  }),
  // Compensation removed the workspace: nothing is left to sample.
  onMany(TenantEvents.provisioningFailed, (events, client) => setStatus(client, events, 'failed')),
  onMany(TenantEvents.suspended, (events, client) => setStatus(client, events, 'suspended')),
  onMany(TenantEvents.activated, (events, client) => setStatus(client, events, 'active')),
  // Archived: the workspace is dropped, its data is in a backup; nothing to sample until it is back.
  onMany(TenantEvents.archived, (events, client) => setStatus(client, events, 'archived')),
  onMany(TenantEvents.unarchived, (events, client) => setStatus(client, events, 'active')),
  // A migration moved the workspace: storage is sampled at the new placement from now on.
  onMany(TenantEvents.placementChanged, async (events, client) => {
    await place(
      client,
      events.map((event) => ({ event, tenantId: event.data.tenantId, placement: event.data.to })),
    );
  }),
]);
