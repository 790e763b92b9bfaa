import type { Pool } from '@ttm/service-kit';
import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../../cursor.js';
import { GATEWAY_SCHEMA } from './projection.js';
import type { TenantItem, TenantListQuery } from './schemas.js';

/**
 * The text `q` searches: name, slug and e-mail, lower-cased, joined by U+001F (which no
 * query may contain, so a match never spans two fields). Spelled exactly as the trigram
 * index of migration 003, or PostgreSQL will not use the index.
 */
export const SEARCH_TEXT = `(lower(organization_name) || chr(31) || coalesce(slug, '') || chr(31) || lower(admin_email))`;

/** Sort key of the last row of a page: registered_at (microseconds, UTC) and tenant id. */
const TenantCursor = z.tuple([z.iso.datetime(), z.uuid()]);

export interface TenantRow {
  tenant_id: string;
  organization_name: string;
  slug: string | null;
  admin_email: string;
  plan: string;
  region: string;
  status: TenantItem['status'];
  progress: number;
  registered_at: Date;
  updated_at: Date;
  sort_at: string;
}

export const tenantColumns = `tenant_id, organization_name, slug, admin_email, plan, region, status, progress,
  registered_at, updated_at,
  to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sort_at`;

export function tenantItem(row: TenantRow): TenantItem {
  return {
    id: row.tenant_id,
    organization_name: row.organization_name,
    slug: row.slug,
    admin_email: row.admin_email,
    plan: row.plan,
    region: row.region,
    status: row.status,
    progress: row.progress,
    registered_at: row.registered_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * One page of the tenant list, newest first, from the gateway projection. Keyset
 * pagination on (registered_at, tenant_id): a page costs the same at any depth, and rows
 * added while someone pages never shift or repeat what they see. Only the filters given
 * go into the WHERE clause, so each query gets the plan of its own index.
 */
export async function listTenants(
  pool: Pool,
  query: TenantListQuery,
): Promise<{ items: TenantItem[]; next_cursor: string | null }> {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const bind = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (query.status) conditions.push(`status = ${bind(query.status)}`);
  if (query.plan) conditions.push(`plan = ${bind(query.plan)}`);
  if (query.region) conditions.push(`region = ${bind(query.region)}`);
  // Lower-cased by PostgreSQL, as the searched text is (JavaScript's rules differ for some letters).
  if (query.q) conditions.push(`${SEARCH_TEXT} LIKE '%' || lower(${bind(escapeLike(query.q))}) || '%'`);
  if (query.cursor) {
    const [at, id] = decodeCursor(query.cursor, TenantCursor);
    conditions.push(`(registered_at, tenant_id) < (${bind(at)}::timestamptz, ${bind(id)}::uuid)`);
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const { rows } = await pool.query<TenantRow>(
    `SELECT ${tenantColumns} FROM ${GATEWAY_SCHEMA}.tenants ${where}
      ORDER BY registered_at DESC, tenant_id DESC
      LIMIT ${bind(query.limit + 1)}`,
    values,
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(tenantItem),
    next_cursor: rows.length > query.limit && last ? encodeCursor([last.sort_at, last.tenant_id]) : null,
  };
}

/** `%`, `_` and the escape character itself match literally in the search. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
