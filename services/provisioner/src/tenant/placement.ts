import type { Placement } from '@ttm/contracts';
import type { Catalog, Cluster, Pool } from '@ttm/service-kit';
import type { DataPlane } from '../dataPlane/dataPlane.js';

/**
 * Place a tenant in its region: the cluster that allows the plan's placement kind and
 * has the most room left. The choice is recorded once per tenant, so a retried step
 * returns the first choice instead of placing twice.
 */
export async function placeTenant(
  deps: { pool: Pool; catalog: Catalog; dataPlane: DataPlane },
  tenant: { tenantId: string; region: string; plan: string },
): Promise<Placement> {
  const recorded = await readPlacement(deps.pool, tenant.tenantId);
  if (recorded) return recorded;
  const region = deps.catalog.region(tenant.region);
  if (!region) throw new Error(`region ${tenant.region} is not configured (REGIONS)`);
  const kind = deps.catalog.plan(tenant.plan)?.isolation ?? 'schema';
  const { rows } = await deps.pool.query<{ cluster: string; tenants: string }>(
    'SELECT cluster, count(*) AS tenants FROM provisioner.placements WHERE region = $1 GROUP BY cluster',
    [region.name],
  );
  const used = new Map(rows.map((r) => [r.cluster, Number(r.tenants)]));
  const room = (c: Cluster) => c.capacity - (used.get(c.name) ?? 0);
  const candidates = region.clusters.filter((c) => c.placements.includes(kind) && room(c) > 0);
  const cluster = candidates.sort((a, b) => room(b) - room(a))[0];
  if (!cluster) throw new NoCapacity(`no cluster in ${region.name} has room for a ${kind} placement`);
  const placement = deps.dataPlane.placementFor(region.name, cluster, kind, tenant.tenantId);
  await deps.pool.query(
    `INSERT INTO provisioner.placements (tenant_id, region, cluster, kind, database, schema, plan)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id) DO NOTHING`,
    [
      tenant.tenantId,
      placement.region,
      placement.cluster,
      placement.kind,
      placement.database,
      placement.schema,
      tenant.plan,
    ],
  );
  return (await readPlacement(deps.pool, tenant.tenantId)) ?? placement;
}

export async function readPlacement(pool: Pool, tenantId: string): Promise<Placement | undefined> {
  const { rows } = await pool.query<Placement>(
    'SELECT region, cluster, kind, database, schema FROM provisioner.placements WHERE tenant_id = $1',
    [tenantId],
  );
  return rows[0];
}

export async function forgetPlacement(pool: Pool, tenantId: string): Promise<void> {
  await pool.query('DELETE FROM provisioner.placements WHERE tenant_id = $1', [tenantId]);
}

export class NoCapacity extends Error {
  override name = 'NoCapacity';
}
