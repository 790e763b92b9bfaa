import { describe, expect, it } from 'vitest';
import { assignWaves, estimate, judgeWave, UpgradeSpec } from './plan.js';

const ids = Array.from({ length: 1000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
const id = '11111111-2222-4333-8444-555555555555';

describe('upgrade plan', () => {
  it('cuts waves at cumulative percentages, every tenant once, stable for one upgrade', () => {
    const waves = [
      { percent: 1, soakSeconds: 60 },
      { percent: 10, soakSeconds: 0 },
      { percent: 100, soakSeconds: 0 },
    ];
    const plan = assignWaves(id, ids, waves);
    expect(plan).toHaveLength(1000);
    expect(new Set(plan.map((p) => p.tenantId)).size).toBe(1000);
    const count = (w: number) => plan.filter((p) => p.wave === w).length;
    expect([count(0), count(1), count(2)]).toEqual([10, 90, 900]);
    expect(assignWaves(id, [...ids].reverse(), waves)).toEqual(plan);
    expect(assignWaves('99999999-2222-4333-8444-555555555555', ids, waves)[0]).not.toEqual(plan[0]);
  });

  it('gives a small fleet a canary of one tenant', () => {
    const plan = assignWaves(id, ids.slice(0, 3), [
      { percent: 1, soakSeconds: 0 },
      { percent: 100, soakSeconds: 0 },
    ]);
    expect(plan.map((p) => p.wave)).toEqual([0, 1, 1]);
  });

  it('pauses on a failed canary, or when a wave fails more than allowed', () => {
    const policy = { pauseOnCanaryFailure: true, maxFailedPercent: 5 };
    expect(judgeWave({ wave: 0, tenants: 10, failed: 1 }, policy)).toMatch(/canary/);
    expect(judgeWave({ wave: 0, tenants: 10, failed: 0 }, policy)).toBeUndefined();
    expect(judgeWave({ wave: 1, tenants: 100, failed: 5 }, policy)).toBeUndefined();
    expect(judgeWave({ wave: 1, tenants: 100, failed: 6 }, policy)).toMatch(/wave 2 failed/);
    expect(judgeWave({ wave: 0, tenants: 100, failed: 1 }, { ...policy, pauseOnCanaryFailure: false })).toBeUndefined();
  });

  it('validates the request with defaults, caps concurrency at 4 per cluster, takes an optional pace', () => {
    expect(UpgradeSpec.parse({ targetVersion: 2 })).toMatchObject({
      waves: [{ percent: 100, soakSeconds: 0 }],
      concurrencyPerCluster: 4,
      failurePolicy: { pauseOnCanaryFailure: true, maxFailedPercent: 5 },
    });
    expect(UpgradeSpec.safeParse({ targetVersion: 2, concurrencyPerCluster: 5 }).success).toBe(false);
    expect(UpgradeSpec.parse({ targetVersion: 2 }).maxTenantsPerSecond).toBeUndefined();
    expect(UpgradeSpec.parse({ targetVersion: 2, maxTenantsPerSecond: 0 }).maxTenantsPerSecond).toBe(0);
    expect(UpgradeSpec.safeParse({ targetVersion: 2, maxTenantsPerSecond: -1 }).success).toBe(false);
  });

  it('estimates the time left from the rate so far', () => {
    expect(estimate(0, 100, 1000)).toEqual({ rate: 0 });
    expect(estimate(50, 100, 5000)).toEqual({ rate: 10, etaSeconds: 5 });
  });
});
