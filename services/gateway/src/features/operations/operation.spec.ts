import { describe, expect, it } from 'vitest';
import type { DirectoryEntry } from '../tenants/directory.js';
import { operationChanged, provisioningOperation, provisioningState } from './operation.js';

const entry = (overrides: Partial<DirectoryEntry>): DirectoryEntry => ({
  tenantId: 't-1',
  provisioningId: 'p-1',
  organizationName: 'Acme',
  adminEmail: 'a@acme.test',
  plan: 'pro',
  region: 'us-east-1',
  slug: null,
  archiveBackupId: null,
  status: 'pending',
  progress: 0,
  step: null,
  placement: null,
  error: null,
  seq: 1,
  ...overrides,
});
const times = { startedAt: '2025-05-01T10:00:00.000Z', updatedAt: '2025-05-01T10:00:01.000Z' };

describe('provisioning as an operation', () => {
  it('maps tenant statuses onto the shared operation statuses', () => {
    expect(provisioningOperation(entry({}), times)).toEqual({
      id: 'p-1',
      kind: 'provisioning',
      tenant_id: 't-1',
      status: 'pending',
      progress: 0,
      step: null,
      started_at: times.startedAt,
      updated_at: times.updatedAt,
    });
    expect(provisioningOperation(entry({ status: 'provisioning', progress: 40, step: 'place' }), times)).toMatchObject({
      status: 'running',
      progress: 40,
    });
    for (const status of ['active', 'suspended'] as const) {
      expect(provisioningOperation(entry({ status, progress: 100, slug: 'acme' }), times)).toMatchObject({
        status: 'succeeded',
        result: { tenant_id: 't-1', slug: 'acme' },
      });
    }
    const failed = provisioningOperation(entry({ status: 'failed', progress: 20, error: 'no capacity' }), times);
    expect(failed).toMatchObject({ status: 'failed', progress: 20, error: 'no capacity' });
    expect(failed.result).toBeUndefined();
  });

  it('shows the seed provisioning status', () => {
    expect(provisioningState(entry({ status: 'provisioning', progress: 75, step: 'create-workspace' }))).toEqual({
      provisioning_id: 'p-1',
      tenant_id: 't-1',
      status: 'provisioning',
      progress: 75,
      step: 'create-workspace',
      slug: null,
    });
    expect(provisioningState(entry({ status: 'suspended', progress: 100, slug: 'acme' })).status).toBe('active');
    expect(provisioningState(entry({ status: 'failed', error: 'boom' }))).toMatchObject({
      status: 'failed',
      error: 'boom',
    });
  });

  it('tells watchers only about changes they can see', () => {
    const running = provisioningOperation(entry({ status: 'provisioning', progress: 40, step: 'place' }), times);
    expect(operationChanged(undefined, running)).toBe(true);
    expect(operationChanged(running, { ...running, updated_at: 'later' })).toBe(false);
    expect(operationChanged(running, { ...running, progress: 75 })).toBe(true);
  });
});
