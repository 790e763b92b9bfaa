import type { Workspace } from '../dataPlane/workspace.js';
import type { MemberRole } from './workspaceMembers.js';

/**
 * What a tenant route lets its caller do. Every route in the tenant scope needs one: its
 * `config.permission`, else `records:read` for GET/HEAD and `records:write` for other methods.
 * API keys carry these as scopes.
 */
export const TENANT_PERMISSIONS = [
  'records:read',
  'records:write',
  'users:manage',
  'api-keys:manage',
  'webhooks:manage',
] as const;
export type TenantPermission = (typeof TENANT_PERMISSIONS)[number];

/** Scopes of an API key created without `scopes` (and of keys made before scopes existed). */
export const DEFAULT_API_KEY_SCOPES: readonly TenantPermission[] = ['records:read', 'records:write'];

/**
 * Twenty's two standard roles (`core.role` labels): an Admin may do everything, a Member
 * works with records and sees who else is in the workspace.
 */
export const rolePermissions: Record<MemberRole, readonly TenantPermission[]> = {
  Admin: TENANT_PERMISSIONS,
  Member: ['records:read', 'records:write'],
};

/** The permission a route needs: its declared one, or one from its method. */
export function permissionFor(method: string, declared: TenantPermission | undefined): TenantPermission {
  if (declared !== undefined) return declared;
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'records:read' : 'records:write';
}

/** True when any live user of the workspace, whatever its role, may do it. */
export function everyRoleMay(permission: TenantPermission): boolean {
  return rolePermissions.Member.includes(permission) && rolePermissions.Admin.includes(permission);
}

/**
 * The user's role in the workspace right now (Twenty's `core."roleTarget"` → `core.role`), read
 * from the data plane, or undefined when the user is no longer a live member. Admin wins when a
 * user somehow holds both.
 */
export async function liveRole(workspace: Workspace, userId: string): Promise<MemberRole | undefined> {
  const { rows } = await workspace.pool.query<{ label: string }>(
    `SELECT r.label
       FROM core."userWorkspace" uw
       JOIN core."user" u ON u.id = uw."userId" AND u."deletedAt" IS NULL
       JOIN core."roleTarget" rt ON rt."userWorkspaceId" = uw.id
       JOIN core.role r ON r.id = rt."roleId"
      WHERE uw."workspaceId" = $1 AND uw."userId" = $2 AND uw."deletedAt" IS NULL`,
    [workspace.workspaceId, userId],
  );
  const labels = new Set(rows.map((r) => r.label));
  if (labels.has('Admin')) return 'Admin';
  if (labels.has('Member')) return 'Member';
  return undefined;
}
