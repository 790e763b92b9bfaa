import type { Page, Tenant } from './api.js';
import type { TtmClient } from './client.js';
import { UsageError } from './errors.js';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A tenant id from what the operator typed: the id itself, or the tenant's slug. */
export async function resolveTenantId(client: TtmClient, ref: string): Promise<string> {
  if (uuid.test(ref)) return ref;
  const page = await client.get<Page<Tenant>>('/api/admin/tenants', { admin: true, query: { q: ref, limit: 100 } });
  const match = page.items.find((t) => t.slug === ref);
  if (!match) throw new UsageError(`no tenant has the slug "${ref}" (pass the tenant id, or see tenant-cli list)`);
  return match.id;
}

export const tenantPath = (id: string) => `/api/admin/tenants/${encodeURIComponent(id)}`;
