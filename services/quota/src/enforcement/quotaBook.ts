import {
  type Meter,
  Meters,
  type QuotaLimitsEntry,
  type QuotaName,
  quotaOfMeter,
  type UsageTotal,
} from '@ttm/contracts';
import type { Reading } from './assess.js';

/** Overrides in force: a number replaces the plan's limit. */
export type LimitOverrides = Partial<Record<QuotaName, number>>;

interface TenantQuota {
  limits?: QuotaLimitsEntry;
  overrides: LimitOverrides;
  usage: Partial<Record<Meter, UsageTotal>>;
}

export interface TenantReadings {
  plan: string;
  /** The UTC month in force (ISO start): api_calls count in it, notices are once per it. */
  window: string;
  meters: Record<Meter, Reading & { usageAt: string | undefined }>;
}

/**
 * What quota knows of each tenant, in memory: the plan's limits (from the provisioner's
 * `<tenantId>.limits` entry), the operator's overrides, and the latest usage totals (from
 * metering's `ttm-usage-totals` bucket). Pure bookkeeping: no I/O.
 */
export class QuotaBook {
  private readonly tenants = new Map<string, TenantQuota>();

  private tenant(tenantId: string): TenantQuota {
    let tenant = this.tenants.get(tenantId);
    if (!tenant) {
      tenant = { overrides: {}, usage: {} };
      this.tenants.set(tenantId, tenant);
    }
    return tenant;
  }

  setLimits(tenantId: string, limits: QuotaLimitsEntry | undefined): void {
    const tenant = this.tenant(tenantId);
    if (limits) tenant.limits = limits;
    else delete tenant.limits;
  }

  setOverrides(tenantId: string, overrides: LimitOverrides): void {
    this.tenant(tenantId).overrides = { ...overrides };
  }

  /**
   * Take a usage total unless it is older than the one held: counts only grow within a month
   * and a later month wins; for a gauge the later sample wins. Returns whether it was taken.
   */
  setUsage(total: UsageTotal): boolean {
    const tenant = this.tenant(total.tenantId);
    const held = tenant.usage[total.meter];
    if (held) {
      const older =
        total.period < held.period ||
        (total.period === held.period && (total.kind === 'count' ? total.value < held.value : total.at < held.at));
      if (older) return false;
    }
    tenant.usage[total.meter] = total;
    return true;
  }

  tenantIds(): string[] {
    return [...this.tenants.keys()];
  }

  /** The limit in force for a meter: the override, else the plan's; undefined before the plan is known. */
  limitOf(tenantId: string, meter: Meter): number | undefined {
    const tenant = this.tenants.get(tenantId);
    if (!tenant?.limits) return undefined;
    const quota = quotaOfMeter[meter];
    return tenant.overrides[quota] ?? tenant.limits.quotas[quota];
  }

  /** Used and limit of each meter at `now`; undefined while the tenant's plan limits are unknown. */
  readings(tenantId: string, now: Date): TenantReadings | undefined {
    const tenant = this.tenants.get(tenantId);
    if (!tenant?.limits) return undefined;
    const window = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
    const meters = {} as TenantReadings['meters'];
    for (const meter of Meters) {
      const total = tenant.usage[meter];
      // Counts start again each month; a gauge is its latest sample, whenever it was taken.
      const used = !total ? 0 : total.kind === 'count' ? (total.period === window ? total.value : 0) : total.value;
      meters[meter] = { window, used, limit: this.limitOf(tenantId, meter)!, usageAt: total?.at };
    }
    return { plan: tenant.limits.plan, window, meters };
  }
}
