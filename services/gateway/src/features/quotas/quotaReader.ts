import { type KV, Kvm } from '@nats-io/kv';
import {
  Buckets,
  type Meter,
  meterOfQuota,
  type QuotaLevel,
  type QuotaLimits,
  QuotaLimitsEntry,
  type QuotaName,
  QuotaNames,
  QuotaStateEntry,
  QuotaStateKeys,
  QuotasOverridden,
  Subjects,
  UsageTotal,
  usageTotalKey,
} from '@ttm/contracts';
import { knownMessage, readAggregate } from '@ttm/service-kit';
import type { GatewayDeps } from '../../deps.js';
import type { QuotaItem, QuotaReport } from './schemas.js';

export type Overrides = Partial<Record<QuotaName, number>>;

/** Start of the UTC month `at` falls in, as an ISO string. */
export function monthStart(at: Date): string {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1)).toISOString();
}

/** The overrides in force after these `ttm.quota.overridden.v1` events: absent keeps, null restores, a number replaces. */
export function foldOverrides(events: readonly { type: string; data: unknown }[]): Overrides {
  const overrides: Overrides = {};
  for (const event of events) {
    const known = knownMessage(event, [QuotasOverridden]);
    if (!known) continue;
    const { limits } = known.data;
    for (const name of QuotaNames) {
      const value = limits[name];
      if (value === null) delete overrides[name];
      else if (value !== undefined) overrides[name] = value;
    }
  }
  return overrides;
}

/** The level of `used` against `limit` with a warning at `thresholdPercent` %, as the quota service decides it. */
export function levelOf(used: number, limit: number, thresholdPercent: number): QuotaLevel {
  if (used >= limit) return 'exceeded';
  if (used * 100 >= limit * thresholdPercent) return 'warning';
  return 'ok';
}

/**
 * What the gateway reads about quotas, without touching the quota service's database: the
 * KV buckets `ttm-quota-state` (plan limits from the provisioner, enforcement state from quota)
 * and `ttm-usage-totals` (metering), the overrides from the tenant's quota events on EVENTS,
 * and the plan catalog when a bucket has nothing yet.
 */
export class QuotaReader {
  private buckets: Promise<{ state: KV; totals: KV }> | undefined;

  constructor(
    private readonly deps: Pick<GatewayDeps, 'nc' | 'js' | 'catalog' | 'config'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private open(): Promise<{ state: KV; totals: KV }> {
    if (!this.buckets) {
      const kvm = new Kvm(this.deps.nc);
      this.buckets = Promise.all([kvm.open(Buckets.quotaState), kvm.open(Buckets.usageTotals)]).then(
        ([state, totals]) => ({ state, totals }),
      );
      // Not there yet (bootstrap racing the gateway): try again next time.
      this.buckets.catch(() => {
        this.buckets = undefined;
      });
    }
    return this.buckets;
  }

  /** `<tenantId>.state`, or undefined while the quota service has not evaluated the tenant. */
  async enforcementState(tenantId: string): Promise<QuotaStateEntry | undefined> {
    const { state } = await this.open();
    return jsonEntry(state, QuotaStateKeys.state(tenantId), QuotaStateEntry);
  }

  /** The plan's limits: `<tenantId>.limits` as the provisioner wrote it, else the plan in the catalog. */
  async planLimits(tenantId: string, plan: string): Promise<QuotaLimits | undefined> {
    const { state } = await this.open();
    const entry = await jsonEntry(state, QuotaStateKeys.limits(tenantId), QuotaLimitsEntry);
    return entry?.quotas ?? this.deps.catalog.plan(plan)?.quotas;
  }

  /** The overrides in force, folded from `evt.quota.<tenantId>`. */
  async overrides(tenantId: string): Promise<Overrides> {
    const { events } = await readAggregate(this.deps.js, Subjects.quotaEvents(tenantId));
    return foldOverrides(events);
  }

  /** The limits in force: the plan's with the overrides applied. */
  async effectiveLimits(
    tenantId: string,
    plan: string,
  ): Promise<{ limits: QuotaLimits; overrides: Overrides } | undefined> {
    const [planned, overrides] = await Promise.all([this.planLimits(tenantId, plan), this.overrides(tenantId)]);
    if (!planned) return undefined;
    return { limits: { ...planned, ...overrides }, overrides };
  }

  /** Per meter: limit, used, remaining and state, for `GET /api/tenant/quotas`. */
  async report(tenantId: string, plan: string): Promise<QuotaReport> {
    const { totals } = await this.open();
    const period = monthStart(this.now());
    const [enforced, planned, ...usage] = await Promise.all([
      this.enforcementState(tenantId),
      this.planLimits(tenantId, plan),
      ...QuotaNames.map((name) => jsonEntry(totals, usageTotalKey(tenantId, meterOfQuota[name]), UsageTotal)),
    ]);
    // Without an enforcement state the limits come from the plan and the overrides recorded so far.
    const overrides = enforced ? undefined : await this.overrides(tenantId);
    const threshold = this.deps.config.QUOTA_WARNING_THRESHOLD;
    const quotas: QuotaItem[] = [];
    QuotaNames.forEach((name, i) => {
      const meter: Meter = meterOfQuota[name];
      const state = enforced?.[meter];
      const limit = state?.limit ?? overrides?.[name] ?? planned?.[name];
      if (limit === undefined) return;
      const total = usage[i] as UsageTotal | undefined;
      const used = usedOf(meter, total, state, enforced?.period, period);
      quotas.push({
        quota: name,
        meter,
        limit,
        used,
        remaining: Math.max(0, limit - used),
        // The enforced level is what the gateway acts on; without one, the same rule applied here.
        state:
          state && (meter !== 'api_calls' || enforced?.period === period)
            ? state.state
            : levelOf(used, limit, threshold),
        overridden: planned === undefined ? false : limit !== planned[name],
      });
    });
    return {
      tenant_id: tenantId,
      plan: enforced?.plan ?? plan,
      period,
      enforced: enforced !== undefined,
      updated_at: enforced?.updatedAt ?? null,
      quotas,
    };
  }
}

/** Month-to-date for counts (0 in a new month), the latest sample for gauges: the freshest source wins. */
function usedOf(
  meter: Meter,
  total: UsageTotal | undefined,
  state: { used: number } | undefined,
  statePeriod: string | undefined,
  period: string,
): number {
  if (meter === 'api_calls') {
    if (total && Date.parse(total.period) === Date.parse(period)) return total.value;
    if (state && statePeriod && Date.parse(statePeriod) === Date.parse(period)) return state.used;
    return 0;
  }
  return total?.value ?? state?.used ?? 0;
}

async function jsonEntry<T>(
  kv: KV,
  key: string,
  schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } },
): Promise<T | undefined> {
  const entry = await kv.get(key);
  if (entry?.operation !== 'PUT') return undefined;
  let value: unknown;
  try {
    value = entry.json();
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
