import type { StoredEvent } from '@ttm/service-kit';
import { describe, expect, it } from 'vitest';
import { tenantFromEvents } from './tenantHistory.js';

const tenantId = '6f1c1a4e-5b7d-4c1e-9a7b-0d1e2f3a4b5c';
const provisioningId = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const placement = { region: 'eu-west-1', cluster: 'euw1-a', kind: 'schema', database: 'dp', schema: 'workspace_x' };

let seq = 0;
const event = (type: string, time: string, data: Record<string, unknown>): StoredEvent => ({
  seq: ++seq * 10,
  type: `ttm.tenant.${type}.v1`,
  meta: { id: `e${seq}`, type: `ttm.tenant.${type}.v1`, source: '/test', specversion: '1.0', time },
  data: { tenantId, provisioningId, ...data },
});

const registered = event('registered', '2025-05-01T10:00:00.000Z', {
  organizationName: 'Acme',
  adminEmail: 'a@acme.test',
  plan: 'pro',
  region: 'eu-west-1',
  registeredAt: '2025-05-01T10:00:00.000Z',
});
const step = (name: string, progress: number, time: string, extra: Record<string, unknown> = {}) =>
  event('provisioning-step-completed', time, { step: name, progress, completedAt: time, ...extra });

describe('tenantFromEvents', () => {
  it('is undefined without a registration first', () => {
    expect(tenantFromEvents([])).toBeUndefined();
    expect(tenantFromEvents([step('place', 40, '2025-05-01T10:00:01.000Z')])).toBeUndefined();
  });

  it('tells a pending tenant from its registration alone', () => {
    expect(tenantFromEvents([registered])).toMatchObject({
      id: tenantId,
      status: 'pending',
      progress: 0,
      slug: null,
      placement: null,
      provisioning: {
        id: provisioningId,
        status: 'pending',
        started_at: '2025-05-01T10:00:00.000Z',
        finished_at: null,
      },
    });
  });

  it('follows provisioning, suspension and reactivation', () => {
    const events = [
      registered,
      step('reserve-slug', 20, '2025-05-01T10:00:00.100Z', { slug: 'acme' }),
      step('place', 40, '2025-05-01T10:00:00.200Z', { placement }),
      event('provisioned', '2025-05-01T10:00:00.900Z', {
        slug: 'acme',
        placement,
        durationMs: 900,
        provisionedAt: '2025-05-01T10:00:00.900Z',
      }),
      event('suspended', '2025-05-02T08:00:00.000Z', {
        reason: 'unpaid',
        actor: { kind: 'admin', id: 'ops' },
        suspendedAt: '2025-05-02T08:00:00.000Z',
      }),
    ];
    const suspended = tenantFromEvents(events);
    expect(suspended).toMatchObject({
      status: 'suspended',
      slug: 'acme',
      progress: 100,
      placement,
      suspended_reason: 'unpaid',
      updated_at: '2025-05-02T08:00:00.000Z',
      provisioning: {
        status: 'succeeded',
        step: 'activate',
        finished_at: '2025-05-01T10:00:00.900Z',
        duration_ms: 900,
      },
    });
    expect(suspended?.timeline.map((e) => e.seq)).toEqual(events.map((e) => e.seq));

    const activated = tenantFromEvents([
      ...events,
      event('activated', '2025-05-03T08:00:00.000Z', { actor: { kind: 'admin', id: 'ops' } }),
    ]);
    expect(activated).toMatchObject({ status: 'active', suspended_reason: null });
  });

  it('keeps the reason and the duration of a failed provisioning', () => {
    const failed = tenantFromEvents([
      registered,
      step('reserve-slug', 20, '2025-05-01T10:00:00.100Z', { slug: 'acme' }),
      event('provisioning-failed', '2025-05-01T10:00:02.000Z', {
        step: 'place',
        reason: 'place failed: no capacity',
        failedAt: '2025-05-01T10:00:02.000Z',
      }),
    ]);
    expect(failed).toMatchObject({
      status: 'failed',
      progress: 20,
      provisioning: { status: 'failed', step: 'place', error: 'place failed: no capacity', duration_ms: 2_000 },
    });
  });
});
