import { Consumers, consumerDefinition, TenantPlacementChanged } from '@ttm/contracts';
import { onMany, type ProjectionDefinition, setAppliers } from '@ttm/service-kit';

const consumer = consumerDefinition(Consumers.provisionerPlacements);

// One statement per batch's moves (set-based: `setAppliers`); a tenant moved twice in one batch
// is moved in two rounds, in stream order.
const placementMoves = setAppliers([
  onMany(TenantPlacementChanged, async (events, client) => {
    const rows = events.map(({ data: { tenantId, to } }) => ({
      tenant_id: tenantId,
      region: to.region,
      cluster: to.cluster,
      kind: to.kind,
      database: to.database,
      schema: to.schema,
    }));
    await client.query(
      `UPDATE provisioner.placements p
          SET region = r.region, cluster = r.cluster, kind = r.kind, database = r.database, schema = r.schema
         FROM jsonb_to_recordset($1::jsonb) AS r(tenant_id uuid, region text, cluster text, kind text,
              database text, schema text)
        WHERE p.tenant_id = r.tenant_id`,
      [JSON.stringify(rows)],
    );
  }),
]);

/**
 * Keeps `provisioner.placements` (which placement counts to find the cluster with the most room)
 * where tenants live after a migration moved them. The rows themselves are the saga's: this only
 * moves an existing row, so replaying from zero ends in the same place and `reset` keeps them.
 * Batches of only other tenant events are acknowledged without a transaction (`handles`).
 */
export const placementsProjection: ProjectionDefinition = {
  name: 'provisioner-placements',
  schema: 'provisioner',
  consumer,
  handles: placementMoves.types,
  apply: placementMoves.apply,
  applyMany: placementMoves.applyMany,
};
