import { createHash } from 'node:crypto';

/**
 * The core rows of a clone, from the backed-up ones: the workspace gets the new tenant id,
 * schema and an `INACTIVE` status (no control-plane tenant runs it yet) and a subdomain of
 * its own; its roles, memberships and data source get ids derived from the new tenant id
 * (so a second run makes the same rows); users keep their ids, because a Twenty user is
 * one person across workspaces. Pure.
 */
export function cloneCoreRows(
  core: ReadonlyMap<string, readonly string[]>,
  target: { tenantId: string; schema: string },
): Map<string, string[]> {
  const derive = (id: unknown) => derivedUuid(target.tenantId, String(id));
  const remap = (name: string, change: (row: Record<string, unknown>) => void) =>
    (core.get(name) ?? []).map((text) => {
      const row = JSON.parse(text) as Record<string, unknown>;
      change(row);
      return JSON.stringify(row);
    });
  const suffix = target.tenantId.replace(/-/g, '').slice(0, 8);
  return new Map([
    [
      'workspace',
      remap('workspace', (w) => {
        w.id = target.tenantId;
        w.displayName = `${String(w.displayName)} (restored)`.slice(0, 200);
        w.subdomain = `${String(w.subdomain).slice(0, 21)}-${suffix}`;
        w.activationStatus = 'INACTIVE';
        w.databaseSchema = target.schema;
        w.deletedAt = null;
      }),
    ],
    [
      'user',
      remap('user', (u) => {
        // Only for a user this database does not have any more (the restore skips existing ones).
        u.defaultWorkspaceId = target.tenantId;
      }),
    ],
    [
      'userWorkspace',
      remap('userWorkspace', (uw) => {
        uw.id = derive(uw.id);
        uw.workspaceId = target.tenantId;
      }),
    ],
    [
      'role',
      remap('role', (r) => {
        r.id = derive(r.id);
        r.workspaceId = target.tenantId;
      }),
    ],
    [
      'roleTarget',
      remap('roleTarget', (rt) => {
        rt.id = derive(rt.id);
        rt.workspaceId = target.tenantId;
        rt.roleId = derive(rt.roleId);
        rt.userWorkspaceId = derive(rt.userWorkspaceId);
      }),
    ],
    [
      'dataSource',
      remap('dataSource', (ds) => {
        ds.id = derive(ds.id);
        ds.workspaceId = target.tenantId;
        ds.schema = target.schema;
      }),
    ],
  ]);
}

/** A uuid (version 8, RFC 9562) derived from a namespace and a name. */
export function derivedUuid(namespace: string, name: string): string {
  const bytes = createHash('sha256').update(`${namespace}:${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
