import type { DataPlanePools } from '../../dataPlane/index.js';
import type { DirectoryEntry, TenantDirectory } from '../tenants/directory.js';
import type { PasswordHasher } from './passwords.js';
import { findWorkspaceUser, type WorkspaceUser } from './workspaceUsers.js';

/** Statuses whose admins may present credentials (a suspended one is then refused with 403). */
const loginable = new Set(['active', 'suspended']);
/** Most organizations one login checks the password against; beyond it, `tenant` must choose. */
export const MAX_LOGIN_CANDIDATES = 10;

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
  /** The password is right for several organizations and no `tenant` chose one. */
  | { kind: 'tenant-choice-required'; tenants: DirectoryEntry[] }
  /** Unknown email, wrong password, or a `tenant` this email does not administer. */
  | { kind: 'rejected'; tenantId: string | undefined };

export interface CredentialCheckDeps {
  directory: TenantDirectory;
  clusterPools: DataPlanePools;
  passwords: PasswordHasher;
}

/**
 * Who is logging in: the organizations whose admin has this email (from the live tenant
 * directory), then the password checked against each one's Twenty user in its
 * data-plane database. Only organizations the password opens are ever named back, so an email
 * alone does not reveal its organizations. Every path spends at least one argon2 verification.
 */
export async function checkCredentials(deps: CredentialCheckDeps, request: LoginRequest): Promise<LoginVerdict> {
  let candidates = await loginCandidates(deps, request.email);
  if (request.tenant !== undefined) {
    const chosen = request.tenant.toLowerCase();
    candidates = candidates.filter((t) => t.tenantId === chosen || t.slug === chosen);
  }
  candidates = candidates.slice(0, MAX_LOGIN_CANDIDATES);
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
      const matches = user
        ? await deps.passwords.verify(user.passwordHash, request.password)
        : await deps.passwords.verifyNothing(request.password);
      return matches && user ? { tenant, user } : undefined;
    }),
  );
  const opened = checked.filter((c) => c !== undefined);
  const [only] = opened;
  if (!only) return { kind: 'rejected', tenantId: candidates.length === 1 ? candidates[0]!.tenantId : undefined };
  if (opened.length > 1) return { kind: 'tenant-choice-required', tenants: opened.map((c) => c.tenant) };
  return only.tenant.status === 'suspended'
    ? { kind: 'suspended', tenant: only.tenant, user: only.user }
    : { kind: 'authenticated', tenant: only.tenant, user: only.user };
}

async function loginCandidates(deps: CredentialCheckDeps, email: string): Promise<DirectoryEntry[]> {
  // From the directory, which follows events live: a tenant can sign in the moment it is active,
  // before the tenants projection in PostgreSQL has caught up.
  return deps.directory.byAdminEmail(email).filter((t) => loginable.has(t.status) && t.placement !== null);
}
