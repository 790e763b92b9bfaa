import { Consumers, consumerDefinition, TenantPlacementChanged } from '@ttm/contracts';
import { eventAppliers, on, type ProjectionDefinition } from '@ttm/service-kit';

const consumer = consumerDefinition(Consumers.provisionerPlacements);

const placementMoves = eventAppliers(
  on(TenantPlacementChanged, async (event, client) => {
    const { tenantId, to } = event.data;
    await client.query(
      `UPDATE provisioner.placements SET region = $2, cluster = $3, kind = $4, database = $5, schema = $6
        WHERE tenant_id = $1`,
      [tenantId, to.region, to.cluster, to.kind, to.database, to.schema],
    );
  }),
);

/**
 * Keeps `provisioner.placements` (which placement counts to find the cluster with the most room)
 * where tenants live after a migration moved them. The rows themselves are the saga's: this only
 * moves an existing row, so replaying from zero ends in the same place and `reset` keeps them.
 */
export const placementsProjection: ProjectionDefinition = {
  name: 'provisioner-placements',
  schema: 'provisioner',
  consumer,
  handles: placementMoves.types,
  apply: placementMoves.apply,
};
