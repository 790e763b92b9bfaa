import { derivedUuid } from '../restore/coreRows.js';

const DAY_MS = 86_400_000;

/** What the idle sweep knows of one tenant: from the tenant events, BILLING and AUDIT. */
export interface TenantActivity {
  tenantId: string;
  plan: string;
  status: string;
  /** When it last became active (provisioned, reactivated, back from an archive). */
  activeSince: Date | null;
  /** End of its last closed hourly api_calls window. */
  lastApiCallAt: Date | null;
  lastSignInAt: Date | null;
  /** A migration of it is running (its writes are frozen; an archive would be refused). */
  migrating: boolean;
  /** The last archive the sweep asked for, if any. */
  lastRequestedAt: Date | null;
}

export interface IdlePolicy {
  /** `PLANS[].archiveIdleDays` by plan; 0 or a plan not named: never archived for idleness. */
  idleDaysOf(plan: string): number;
  /** An archive asked for that did not happen is asked again after this long. */
  retryAfterMs: number;
}

export type IdleAssessment =
  | { kind: 'skipped'; reason: 'not-active' | 'plan-never-idle' | 'migrating' | 'no-activity-known' }
  | { kind: 'in-use'; lastActivityAt: Date; idleAt: Date }
  /** Idle, and the sweep asked for its archive less than `retryAfterMs` ago. */
  | { kind: 'archive-asked'; lastActivityAt: Date; idleAt: Date; requestedAt: Date }
  | { kind: 'idle'; lastActivityAt: Date; idleAt: Date };

/** The latest of its sign-ins, API calls and the moment it became active; null when none is known. */
export function lastActivityOf(t: Pick<TenantActivity, 'activeSince' | 'lastApiCallAt' | 'lastSignInAt'>): Date | null {
  const known = [t.activeSince, t.lastApiCallAt, t.lastSignInAt].filter((d): d is Date => d !== null);
  if (known.length === 0) return null;
  return new Date(Math.max(...known.map((d) => d.getTime())));
}

/**
 * Whether the idle sweep archives `tenant` at `now`: only an active tenant of a plan with idle
 * days, not being migrated, whose last sign-in or API call (or, if it never had one, its
 * activation) is at least that many days old. Pure.
 */
export function assessIdleness(tenant: TenantActivity, policy: IdlePolicy, now: Date): IdleAssessment {
  if (tenant.status !== 'active') return { kind: 'skipped', reason: 'not-active' };
  const days = policy.idleDaysOf(tenant.plan);
  if (days <= 0) return { kind: 'skipped', reason: 'plan-never-idle' };
  const lastActivityAt = lastActivityOf(tenant);
  if (!lastActivityAt) return { kind: 'skipped', reason: 'no-activity-known' };
  const idleAt = new Date(lastActivityAt.getTime() + days * DAY_MS);
  if (now < idleAt) return { kind: 'in-use', lastActivityAt, idleAt };
  if (tenant.migrating) return { kind: 'skipped', reason: 'migrating' };
  const requestedAt = tenant.lastRequestedAt;
  // A request made before the last activity belongs to an earlier idle spell (it was archived and came back).
  if (requestedAt && requestedAt >= lastActivityAt && now.getTime() - requestedAt.getTime() < policy.retryAfterMs) {
    return { kind: 'archive-asked', lastActivityAt, idleAt, requestedAt };
  }
  return { kind: 'idle', lastActivityAt, idleAt };
}

/**
 * The archive id of an idle tenant: the same for every sweeper that looks within one retry slot
 * (so two instances, or one restarted, ask for one archive), a new one once the slot has passed
 * or the tenant was active again.
 */
export function idleArchiveId(tenantId: string, lastActivityAt: Date, now: Date, retryAfterMs: number): string {
  const slot = Math.floor(now.getTime() / Math.max(1, retryAfterMs));
  return derivedUuid('idle-archive', `${tenantId}:${lastActivityAt.toISOString()}:${retryAfterMs}:${slot}`);
}
