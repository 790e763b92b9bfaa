import type { Alert, Overview, TenantTraffic } from './protocol.js';

/** The value at quantile `q` (0-1) of unsorted `values`, nearest rank; 0 for none. Pure. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

interface Bucket {
  start: number;
  tenants: Map<string, { count: number; durations: number[] }>;
}

/**
 * Tenant requests over a sliding window made of fixed buckets (default 6 × 10 s): counts, and up
 * to `keepPerBucket` response times per tenant and bucket for the p95, so memory is bounded
 * however busy a tenant is. Pure apart from the clock it is given.
 */
export class TrafficWindow {
  private buckets: Bucket[] = [];

  constructor(
    private readonly bucketMs = 10_000,
    private readonly bucketCount = 6,
    private readonly keepPerBucket = 256,
  ) {}

  record(tenantId: string, ms: number, now: number): void {
    const bucket = this.current(now);
    let stats = bucket.tenants.get(tenantId);
    if (!stats) {
      stats = { count: 0, durations: [] };
      bucket.tenants.set(tenantId, stats);
    }
    stats.count++;
    if (stats.durations.length < this.keepPerBucket) stats.durations.push(ms);
    else stats.durations[stats.count % this.keepPerBucket] = ms;
  }

  /** Requests per second over the window, and the `limit` busiest tenants with their p95. */
  summary(now: number, limit = 10): { rate: number; top: TenantTraffic[] } {
    this.prune(now);
    const seconds = (this.bucketMs * this.bucketCount) / 1_000;
    const totals = new Map<string, { count: number; durations: number[] }>();
    let all = 0;
    for (const bucket of this.buckets) {
      for (const [tenantId, stats] of bucket.tenants) {
        all += stats.count;
        const total = totals.get(tenantId) ?? { count: 0, durations: [] };
        total.count += stats.count;
        total.durations.push(...stats.durations);
        totals.set(tenantId, total);
      }
    }
    const top = [...totals.entries()]
      .sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1))
      .slice(0, limit)
      .map(([tenant_id, stats]) => ({
        tenant_id,
        rate: round(stats.count / seconds),
        p95_ms: round(quantile(stats.durations, 0.95)),
      }));
    return { rate: round(all / seconds), top };
  }

  private current(now: number): Bucket {
    const start = now - (now % this.bucketMs);
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.start === start) return last;
    const bucket: Bucket = { start, tenants: new Map() };
    this.buckets.push(bucket);
    this.prune(now);
    return bucket;
  }

  private prune(now: number): void {
    const oldest = now - this.bucketMs * this.bucketCount;
    this.buckets = this.buckets.filter((bucket) => bucket.start > oldest);
  }
}

/** What the alert rules look at. */
export type AlertInputs = Pick<Overview, 'provisioning_queue' | 'projection_lag' | 'dead_letters'> & {
  refusals_per_s: number;
  failed_last_hour: number;
};

interface Rule {
  name: string;
  severity: Alert['severity'];
  firing(inputs: AlertInputs): string | undefined;
}

const rules: Rule[] = [
  {
    name: 'ProvisioningQueueBacklog',
    severity: 'warning',
    firing: (i) =>
      (i.provisioning_queue ?? 0) > 100
        ? `${i.provisioning_queue} tenant commands wait for the provisioner`
        : undefined,
  },
  {
    name: 'ProjectionLag',
    severity: 'warning',
    firing: (i) => {
      const lagging = Object.entries(i.projection_lag).filter(([, lag]) => (lag ?? 0) > 1_000);
      return lagging.length > 0
        ? lagging.map(([name, lag]) => `${name} is ${lag} events behind`).join('; ')
        : undefined;
    },
  },
  {
    name: 'DeadLetters',
    severity: 'critical',
    firing: (i) => ((i.dead_letters ?? 0) > 0 ? `${i.dead_letters} messages in the dead-letter stream` : undefined),
  },
  {
    name: 'ProvisioningFailures',
    severity: 'warning',
    firing: (i) => (i.failed_last_hour > 0 ? `${i.failed_last_hour} provisionings failed in the last hour` : undefined),
  },
  {
    name: 'RateLimitStorm',
    severity: 'warning',
    firing: (i) => (i.refusals_per_s > 10 ? `${i.refusals_per_s} tenant requests refused per second` : undefined),
  },
];

/**
 * The gateway's own alert rules over the overview's numbers (no Prometheus needed): those firing
 * now, each with the time it started firing (kept from `previous`). Pure.
 */
export function alertsOf(inputs: AlertInputs, previous: readonly Alert[], now: string): Alert[] {
  const alerts: Alert[] = [];
  for (const rule of rules) {
    const summary = rule.firing(inputs);
    if (summary === undefined) continue;
    const since = previous.find((alert) => alert.name === rule.name)?.since ?? now;
    alerts.push({ name: rule.name, severity: rule.severity, summary, since });
  }
  return alerts;
}

export function round(value: number): number {
  return Math.round(value * 100) / 100;
}
