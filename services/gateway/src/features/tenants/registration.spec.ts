import { RegisterOrganization } from '@ttm/contracts';
import { describe, expect, it } from 'vitest';
import { registrationBody, requestFieldOf } from './registration.js';

describe('requestFieldOf', () => {
  it('names the request field a client sent for each field of the contract it fills', () => {
    expect(requestFieldOf('organizationName')).toBe('organization_name');
    expect(requestFieldOf('adminEmail')).toBe('admin_email');
    expect(requestFieldOf('plan')).toBe('plan');
    expect(requestFieldOf('region')).toBe('region');
  });

  it('maps every contract field to a field of the request body, or to one the gateway fills itself', () => {
    const catalog = { plans: [], regions: [], defaultRegion: 'us-east-1' } as never;
    const requestFields = Object.keys(registrationBody(catalog).shape);
    const filledByGateway = ['provisioningId', 'tenantId', 'adminPasswordHash', 'requestedAt'];
    for (const field of Object.keys(RegisterOrganization.schema.shape)) {
      if (filledByGateway.includes(field)) continue;
      expect(requestFields).toContain(requestFieldOf(field));
    }
  });
});
