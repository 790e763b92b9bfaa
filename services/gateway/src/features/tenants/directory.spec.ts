import { randomUUID } from 'node:crypto';
import { type DataOf, sampleFor, TenantRegistered } from '@ttm/contracts';
import type { ReceivedEvent } from '@ttm/service-kit';
import { describe, expect, it } from 'vitest';
import { TenantDirectory } from './directory.js';

let seq = 0;
function registered(adminEmail: string): { tenantId: string; event: ReceivedEvent } {
  const tenantId = randomUUID();
  const data: DataOf<typeof TenantRegistered> = {
    ...sampleFor(TenantRegistered),
    tenantId,
    provisioningId: randomUUID(),
    adminEmail,
  };
  seq++;
  return {
    tenantId,
    event: {
      meta: { type: TenantRegistered.type } as ReceivedEvent['meta'],
      data,
      seq,
      subject: `evt.tenant.${tenantId}`,
      deliveryCount: 1,
    },
  };
}

describe('TenantDirectory.byAdminEmail', () => {
  it('finds the tenants an e-mail administers, whatever its case, in registration order', () => {
    const directory = new TenantDirectory();
    const first = registered('Owner@Example.test');
    const other = registered('someone@else.test');
    const second = registered('owner@example.test');
    for (const { event } of [first, other, second]) directory.apply(event);
    expect(directory.byAdminEmail('OWNER@example.TEST').map((t) => t.tenantId)).toEqual([
      first.tenantId,
      second.tenantId,
    ]);
    expect(directory.byAdminEmail('nobody@example.test')).toEqual([]);
  });

  it('lists a tenant once, however often its registration is delivered', () => {
    const directory = new TenantDirectory();
    const { tenantId, event } = registered('again@example.test');
    directory.apply(event);
    directory.apply({ ...event, seq: event.seq + 1000 });
    expect(directory.byAdminEmail('again@example.test').map((t) => t.tenantId)).toEqual([tenantId]);
  });
});
