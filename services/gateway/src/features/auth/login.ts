import type { DataPlanePools } from '../dataPlane/index.js';
import type { DirectoryEntry, TenantDirectory } from '../tenants/directory.js';
import type { PasswordHasher } from './passwords.js';
import { findWorkspaceUser, type WorkspaceUser } from './workspaceUsers.js';

/**
 * Statuses whose admins may present credentials (a suspended one is then refused with 403; an
 * archived one's sign-in starts its restore). An archived tenant keeps its `core` rows, so its
 * passwords are checked as usual.
 */
const loginable = new Set(['active', 'suspended', 'archived']);

export interface LoginRequest {
  /** Already trimmed and lowercased. */
  email: string;
  password: string;
  /** Slug or tenant id, to choose among several organizations of one email. */
  tenant?: string | undefined;
}

export type LoginVerdict =
  | { kind: 'authenticated'; tenant: DirectoryEntry; user: WorkspaceUser }
  /** The password is right but the organization is suspended. */
  | { kind: 'suspended'; tenant: DirectoryEntry; user: WorkspaceUser }
  /** The password is right and the organization is archived: the sign-in brings it back. */
  | { kind: 'archived'; tenant: DirectoryEntry; user: WorkspaceUser }
  /** The password is right for several organizations and no `tenant` chose one. */
  | { kind: 'tenant-choice-required'; tenants: DirectoryEntry[] }
  /** Unknown email, wrong password, or a `tenant` this email does not administer. */
  | { kind: 'rejected'; tenantId: string | undefined };

export interface CredentialCheckDeps {
  directory: TenantDirectory;
  clusterPools: DataPlanePools;
  passwords: PasswordHasher;
  /** Tenants where a user with this email accepted an invitation (gateway schema). */
  memberTenants?: (email: string) => Promise<string[]>;
}

/**
 * The organizations a login may open: those whose admin has this email (from the live tenant
 * directory) plus those where an invited user with this email has set a password, narrowed to
 * `tenant` when it is given. Every one of them is checked (no cap in registration order), and
 * the caller pays for each in the login limiter's address budget.
 */
export async function loginCandidates(
  deps: CredentialCheckDeps,
  request: Pick<LoginRequest, 'email' | 'tenant'>,
): Promise<DirectoryEntry[]> {
  // From the directory, which follows events live: a tenant can sign in the moment it is active,
  // before the tenants projection in PostgreSQL has caught up.
  const ids = new Set(deps.directory.byAdminEmail(request.email).map((t) => t.tenantId));
  for (const tenantId of (await deps.memberTenants?.(request.email)) ?? []) ids.add(tenantId);
  let candidates = [...ids]
    .map((id) => deps.directory.get(id))
    .filter((t): t is DirectoryEntry => t !== undefined && loginable.has(t.status) && t.placement !== null);
  if (request.tenant !== undefined) {
    const chosen = request.tenant.toLowerCase();
    candidates = candidates.filter((t) => t.tenantId === chosen || t.slug === chosen);
  }
  return candidates;
}

/**
 * The password checked against each candidate's Twenty user in its data-plane database. Only
 * organizations the password opens are ever named back, so an email alone does not reveal its
 * organizations. Every path spends at least one argon2 verification.
 */
export async function checkCredentials(
  deps: CredentialCheckDeps,
  request: LoginRequest,
  candidates: DirectoryEntry[],
): Promise<LoginVerdict> {
  if (candidates.length === 0) {
    await deps.passwords.verifyNothing(request.password);
    return { kind: 'rejected', tenantId: undefined };
  }

  const checked = await Promise.all(
    candidates.map(async (tenant) => {
      const user = await findWorkspaceUser(
        deps.clusterPools.poolFor(tenant.placement!),
        tenant.tenantId,
        request.email,
      );
      // An invited user who has not set a password yet has an empty hash: it opens nothing.
      const matches =
        user && user.passwordHash !== ''
          ? await deps.passwords.verify(user.passwordHash, request.password)
          : await deps.passwords.verifyNothing(request.password);
      return matches && user ? { tenant, user } : undefined;
    }),
  );
  const opened = checked.filter((c) => c !== undefined);
  const [only] = opened;
  if (!only) return { kind: 'rejected', tenantId: candidates.length === 1 ? candidates[0]!.tenantId : undefined };
  if (opened.length > 1) return { kind: 'tenant-choice-required', tenants: opened.map((c) => c.tenant) };
  if (only.tenant.status === 'suspended') return { kind: 'suspended', tenant: only.tenant, user: only.user };
  if (only.tenant.status === 'archived') return { kind: 'archived', tenant: only.tenant, user: only.user };
  return { kind: 'authenticated', tenant: only.tenant, user: only.user };
}
