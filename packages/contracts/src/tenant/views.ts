/**
 * The tenant as the gateway shows it in JSON to more than one client (the CLI, the dashboard's
 * list and live feed): its TypeScript shape, spelled once. The gateway's route schemas validate it.
 */

export type TenantStatus = 'pending' | 'provisioning' | 'active' | 'failed' | 'suspended' | 'archived';

/** A tenant as a row of a list shows it (the live dashboard's rows, the items of `GET /api/admin/tenants`). */
export interface TenantSummary {
  id: string;
  organization_name: string;
  slug: string | null;
  admin_email: string;
  plan: string;
  region: string;
  status: TenantStatus;
  progress: number;
}

/** An item of `GET /api/admin/tenants`: the summary, and when the tenant registered and last changed. */
export interface TenantListItem extends TenantSummary {
  registered_at: string;
  updated_at: string;
}
