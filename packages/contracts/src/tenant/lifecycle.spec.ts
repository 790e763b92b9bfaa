import { describe, expect, it } from 'vitest';
import { checkLifecycleChange } from './lifecycle.js';

describe('tenant lifecycle rule', () => {
  it('suspends an active tenant and activates a suspended one', () => {
    expect(checkLifecycleChange('suspend', 'active')).toEqual({ outcome: 'apply' });
    expect(checkLifecycleChange('activate', 'suspended')).toEqual({ outcome: 'apply' });
  });

  it('finds nothing to do when the tenant is in the target status already', () => {
    expect(checkLifecycleChange('suspend', 'suspended')).toEqual({ outcome: 'already' });
    expect(checkLifecycleChange('activate', 'active')).toEqual({ outcome: 'already' });
  });

  it('refuses an unknown tenant and one still provisioning or failed', () => {
    expect(checkLifecycleChange('suspend', undefined)).toMatchObject({ outcome: 'refused', code: 'not-found' });
    expect(checkLifecycleChange('activate', 'none')).toMatchObject({ outcome: 'refused', code: 'not-found' });
    expect(checkLifecycleChange('suspend', 'provisioning')).toEqual({
      outcome: 'refused',
      code: 'invalid-state',
      message: 'a tenant in status provisioning cannot be suspended',
    });
    expect(checkLifecycleChange('activate', 'failed')).toMatchObject({ outcome: 'refused', code: 'invalid-state' });
  });
});
