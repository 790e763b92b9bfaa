import type { KV } from '@nats-io/kv';
import { type Meter, type MeterQuotaState, Meters, QuotaStateEntry, QuotaStateKeys } from '@ttm/contracts';
import { type Logger, watchKv } from '@ttm/service-kit';
import type { RequestPathMetrics } from './metrics.js';

/** Why a tenant's request is refused: the meter over its limit, with the numbers from the state. */
export interface QuotaRefusal {
  meter: Meter;
  limit: number;
  used: number;
  /** api_calls: ms until the next UTC month, when the count starts again. */
  retryAfterMs?: number;
}

interface TenantQuota {
  entry: QuotaStateEntry;
  /** End of the month `entry.period` starts (epoch ms): api_calls of a later month are not this entry's. */
  periodEnd: number;
  /**
   * api_calls this instance allowed since it received `entry`. Those are not in `entry.used` (the
   * state was written before they happened), so `used + callsSince >= limit` is over the limit
   * without waiting for the count to travel through metering and quota.
   */
  callsSince: number;
}

/** A request as the gate sees it: is it a write, and does its route create what a meter counts. */
export interface GatedRequest {
  write: boolean;
  /** `config.quotaMeter` of the route (`users` on the invitation route). */
  routeMeter: Meter | undefined;
  /** `config.quotaExempt` of the route: never refused for api_calls. */
  apiCallExempt?: boolean;
}

/**
 * The quota service's enforcement state (`<tenantId>.state` in `ttm-quota-state`) held in memory:
 * watched, current values first and then every change, so a new state is enforced within
 * milliseconds of being written. The per-request check is a map lookup.
 *
 * - api_calls exceeded (or reached counting this instance's calls since the state): every call refused (429);
 * - storage_bytes exceeded: writes (POST, PUT, PATCH, DELETE) refused (403), reads served;
 * - users exceeded: only routes with `config.quotaMeter: 'users'` refused (403).
 *
 * No entry (quota has not evaluated the tenant yet): nothing is enforced.
 */
export class QuotaGate {
  private readonly tenants = new Map<string, TenantQuota>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: RequestPathMetrics,
  ) {}

  get size(): number {
    return this.tenants.size;
  }

  /** The refusal for this request, or undefined to let it through. */
  check(tenantId: string, request: GatedRequest, now = Date.now()): QuotaRefusal | undefined {
    const tenant = this.tenants.get(tenantId);
    if (!tenant) return undefined;
    const { entry } = tenant;
    if (now < tenant.periodEnd && !request.apiCallExempt) {
      const calls = entry.api_calls;
      if (calls.state === 'exceeded' || calls.used + tenant.callsSince >= calls.limit) {
        return {
          meter: 'api_calls',
          limit: calls.limit,
          used: calls.used + tenant.callsSince,
          retryAfterMs: tenant.periodEnd - now,
        };
      }
    }
    if (request.write && entry.storage_bytes.state === 'exceeded') return refusal('storage_bytes', entry.storage_bytes);
    if (request.routeMeter === 'users' && entry.users.state === 'exceeded') return refusal('users', entry.users);
    return undefined;
  }

  /** One allowed call of `tenantId` (after `check` let it through). */
  counted(tenantId: string): void {
    const tenant = this.tenants.get(tenantId);
    if (tenant) tenant.callsSince++;
  }

  /** Apply one KV change: the tenant's new state, or undefined once its entry is deleted. */
  apply(tenantId: string, value: unknown): void {
    if (value === undefined) {
      this.tenants.delete(tenantId);
      return;
    }
    const parsed = QuotaStateEntry.safeParse(value);
    if (!parsed.success) {
      this.logger.error({ tenantId, issues: parsed.error.issues }, 'quota state entry breaks its contract; ignored');
      return;
    }
    const entry = parsed.data;
    const previous = this.tenants.get(tenantId)?.entry;
    for (const meter of Meters) {
      if (previous?.[meter].state !== entry[meter].state) {
        this.metrics.quotaStateChanges.inc({ meter, state: entry[meter].state });
      }
    }
    const start = new Date(entry.period);
    const periodEnd = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
    this.tenants.set(tenantId, { entry, periodEnd, callsSince: 0 });
  }

  /**
   * Follow the bucket until `signal` aborts: current values, then each change. A watch that
   * breaks (NATS restarting) is opened again and starts over with the current values.
   */
  follow(kv: KV, signal: AbortSignal): Promise<void> {
    const tenantOf = (key: string) => key.slice(0, key.lastIndexOf('.'));
    return watchKv({
      kv,
      key: QuotaStateKeys.allStates,
      signal,
      logger: this.logger,
      what: 'ttm-quota-state',
      backoff: { baseMs: 250, maxMs: 5_000 },
      onPut: (key, value) => this.apply(tenantOf(key), value),
      onDelete: (key) => this.apply(tenantOf(key), undefined),
    });
  }
}

function refusal(meter: Meter, state: MeterQuotaState): QuotaRefusal {
  return { meter, limit: state.limit, used: state.used };
}
