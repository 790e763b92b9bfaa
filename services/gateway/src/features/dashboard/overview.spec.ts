import { describe, expect, it } from 'vitest';
import { parse } from './hub.js';
import { type AlertInputs, alertsOf, quantile, TrafficWindow } from './overview.js';

describe('quantile', () => {
  it('takes the nearest rank, 0 for nothing', () => {
    expect(quantile([], 0.95)).toBe(0);
    expect(quantile([5], 0.95)).toBe(5);
    expect(
      quantile(
        Array.from({ length: 100 }, (_, i) => 100 - i),
        0.95,
      ),
    ).toBe(95);
  });
});

describe('TrafficWindow', () => {
  it('ranks tenants by requests over the window with their p95, and forgets what left it', () => {
    const window = new TrafficWindow(10_000, 6);
    const t0 = 1_000_000;
    for (let i = 0; i < 120; i++) window.record('busy', i < 114 ? 10 : 500, t0 + i);
    for (let i = 0; i < 6; i++) window.record('quiet', 20, t0 + i);
    const summary = window.summary(t0 + 1_000);
    expect(summary.rate).toBe(2.1);
    expect(summary.top.map((t) => t.tenant_id)).toEqual(['busy', 'quiet']);
    expect(summary.top[0]).toMatchObject({ rate: 2, p95_ms: 10 });
    expect(window.summary(t0 + 70_000)).toEqual({ rate: 0, top: [] });
  });

  it('keeps a bounded sample of response times per tenant', () => {
    const window = new TrafficWindow(10_000, 6, 8);
    for (let i = 0; i < 1_000; i++) window.record('t', 1_000, 0);
    expect(window.summary(1).top[0]).toMatchObject({ p95_ms: 1_000 });
  });
});

describe('alertsOf', () => {
  const calm: AlertInputs = {
    provisioning_queue: 0,
    projection_lag: { 'gateway-tenants': 0 },
    dead_letters: 0,
    refusals_per_s: 0,
    failed_last_hour: 0,
  };

  it('fires nothing on a calm fleet', () => {
    expect(alertsOf(calm, [], '2026-01-01T00:00:00.000Z')).toEqual([]);
  });

  it('fires each rule with a summary and keeps the time it started firing', () => {
    const busy = { ...calm, dead_letters: 3, projection_lag: { 'gateway-tenants': 5_000 } };
    const first = alertsOf(busy, [], '2026-01-01T00:00:00.000Z');
    expect(first.map((a) => [a.name, a.severity])).toEqual([
      ['ProjectionLag', 'warning'],
      ['DeadLetters', 'critical'],
    ]);
    expect(first[0]!.summary).toBe('gateway-tenants is 5000 events behind');
    const later = alertsOf(busy, first, '2026-01-01T00:05:00.000Z');
    expect(later.every((a) => a.since === '2026-01-01T00:00:00.000Z')).toBe(true);
    expect(alertsOf(calm, later, '2026-01-01T00:06:00.000Z')).toEqual([]);
  });
});

describe('parse (client messages of the live stream)', () => {
  it('accepts hello, with or without resume, and ping', () => {
    expect(parse('{"v":1,"type":"hello"}', false)).toEqual({ ok: true, value: { v: 1, type: 'hello' } });
    expect(parse('{"v":1,"type":"hello","resume":{"epoch":"abc","seq":4}}', false)).toMatchObject({ ok: true });
    expect(parse('{"v":1,"type":"ping"}', false)).toMatchObject({ ok: true });
  });

  it('refuses binary, non-JSON, other versions, unknown types and extra fields, with a reason', () => {
    expect(parse('x', true)).toMatchObject({ ok: false, code: 1007 });
    expect(parse('{', false)).toMatchObject({ ok: false, code: 1007, reason: 'malformed message: not JSON' });
    expect(parse('{"v":2,"type":"hello"}', false)).toMatchObject({ ok: false, code: 1008 });
    expect(parse('{"v":1,"type":"subscribe"}', false)).toMatchObject({ ok: false, code: 1007 });
    expect(parse('{"v":1,"type":"ping","x":1}', false)).toMatchObject({ ok: false, code: 1007 });
    expect(parse('{"v":1,"type":"hello","resume":{"epoch":"a","seq":-1}}', false)).toMatchObject({ ok: false });
  });
});
