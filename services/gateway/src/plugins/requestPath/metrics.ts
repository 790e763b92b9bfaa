import { sharedCounter, sharedGauge, sharedHistogram } from '@ttm/service-kit';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface RequestPathMetrics {
  /** Tenant requests by plan and outcome: allowed, limited (rate limit), quota (a quota refused it), unavailable. */
  requests: Counter<'plan' | 'outcome'>;
  quotaRefusals: Counter<'meter'>;
  quotaStateChanges: Counter<'meter' | 'state'>;
  redisSeconds: Histogram;
  redisFailures: Counter<'reason'>;
  /** 1 while this gateway limits locally because Redis is slow or down (RATE_LIMIT_FAILURE_MODE=local). */
  fallbackActive: Gauge;
  fallbackDecisions: Counter;
  leaseCreditsExpired: Counter;
  usageBatches: Counter<'outcome'>;
  usageMessages: Counter<'outcome'>;
  usageCalls: Counter;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  return sharedCounter(registry, { name, help, labelNames });
}

/** The request path's metrics, in the gateway's registry (`/metrics`). */
export function requestPathMetrics(registry: Registry): RequestPathMetrics {
  return {
    requests: counter(
      registry,
      'gateway_tenant_requests_total',
      'Tenant API requests by plan and outcome (allowed, limited by the rate limit, quota refused, unavailable: Redis down with RATE_LIMIT_FAILURE_MODE=closed)',
      ['plan', 'outcome'],
    ),
    quotaRefusals: counter(
      registry,
      'gateway_quota_refusals_total',
      'Tenant requests refused because the tenant is over a quota, by meter',
      ['meter'],
    ),
    quotaStateChanges: counter(
      registry,
      'gateway_quota_state_changes_total',
      'Changes of a meter enforcement state seen in ttm-quota-state, by meter and new state',
      ['meter', 'state'],
    ),
    redisSeconds: sharedHistogram(registry, {
      name: 'gateway_rate_limit_redis_seconds',
      help: 'Round trip of one rate limit decision in Redis',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
    }),
    redisFailures: counter(
      registry,
      'gateway_rate_limit_redis_failures_total',
      'Rate limit decisions Redis did not give (timeout, error, unavailable), so RATE_LIMIT_FAILURE_MODE applied',
      ['reason'],
    ),
    fallbackActive: sharedGauge(registry, {
      name: 'gateway_rate_limit_fallback_active',
      help: '1 while this gateway limits tenants locally (its share of each limit) because Redis is slow or down',
    }),
    fallbackDecisions: counter(
      registry,
      'gateway_rate_limit_fallback_total',
      'Tenant requests whose rate limit this gateway decided locally because Redis was slow or down',
      [],
    ),
    leaseCreditsExpired: counter(
      registry,
      'gateway_rate_limit_lease_expired_total',
      'Leased requests (already counted in Redis) dropped unused because the tenant went quiet on this gateway',
      [],
    ),
    usageBatches: counter(
      registry,
      'gateway_usage_batches_total',
      'api_calls usage batches (every tenant counted since the last flush) by outcome: published, retry (some message failed; the rest is kept and sent again)',
      ['outcome'],
    ),
    usageMessages: counter(
      registry,
      'gateway_usage_messages_total',
      'api_calls usage messages (up to 2,000 tenants each, per flush) by outcome: published, failed (kept and retried)',
      ['outcome'],
    ),
    usageCalls: counter(registry, 'gateway_usage_calls_published_total', 'Tenant API calls published as usage', []),
  };
}
