import { describe, expect, it } from 'vitest';
import type { Upgrade } from './api.js';
import { percentDone, progressLine, wavesOf } from './upgradeView.js';

const upgrade = (over: Partial<Upgrade>): Upgrade => ({
  upgradeId: '11111111-2222-4333-8444-555555555555',
  targetVersion: 2,
  status: 'running',
  statusReason: null,
  rollbackOf: null,
  spec: {
    waves: [
      { percent: 1, soakSeconds: 60 },
      { percent: 10, soakSeconds: 60 },
      { percent: 100, soakSeconds: 0 },
    ],
    filters: {},
    concurrencyPerCluster: 4,
    failurePolicy: { pauseOnCanaryFailure: true, maxFailedPercent: 5 },
  },
  wavesDone: 1,
  counts: { pending: 875, running: 4, ok: 120, failed: 1, skipped: 0 },
  total: 1000,
  rate: 12.34,
  etaSeconds: 70,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  tenants: [],
  ...over,
});

describe('upgrade view', () => {
  it('turns --waves and --soak into waves, the last one not soaked', () => {
    expect(wavesOf('1,10,100', 60)).toEqual([
      { percent: 1, soakSeconds: 60 },
      { percent: 10, soakSeconds: 60 },
      { percent: 100, soakSeconds: 0 },
    ]);
    expect(wavesOf('100', 60)).toEqual([{ percent: 100, soakSeconds: 0 }]);
    expect(() => wavesOf('1,0,100', 0)).toThrow(/above 0/);
    expect(() => wavesOf('10,5,100', 0)).toThrow(/more tenants/);
    expect(() => wavesOf('1,x', 0)).toThrow(/percentages/);
  });

  it('shows the wave, the counts, the rate and the ETA on one line', () => {
    expect(progressLine(upgrade({}))).toBe(
      'wave 2/3 · 120 ok · 1 failed · 4 running · 875 pending · 12.3/s · ETA 1 m 10 s',
    );
    expect(
      progressLine(upgrade({ status: 'paused', counts: { pending: 0, running: 0, ok: 3, failed: 0, skipped: 2 } })),
    ).toBe('paused · 3 ok · 2 skipped · 12.3/s');
    expect(percentDone(upgrade({}))).toBe(12);
    expect(percentDone(upgrade({ total: 0, status: 'completed' }))).toBe(100);
  });
});
