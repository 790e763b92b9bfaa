import { TenantActivated, TenantSuspended } from '@ttm/contracts';
import type { PoolClient } from 'pg';
import { describe, expect, it } from 'vitest';
import type { ReceivedEvent } from '../messaging.js';
import { on } from './handlerMap.js';
import { onMany, rounds, setAppliers } from './setAppliers.js';

let seq = 0;
function event(type: string, tenant: string): ReceivedEvent {
  seq++;
  return {
    meta: { type } as ReceivedEvent['meta'],
    data: { tenantId: tenant },
    seq,
    subject: `evt.tenant.${tenant}`,
    deliveryCount: 1,
  };
}
const client = {} as PoolClient;

describe('rounds', () => {
  it("puts each aggregate's k-th event in round k, keeping stream order inside a round", () => {
    const events = ['a1', 'b1', 'a2', 'c1', 'a3', 'b2'];
    expect(rounds(events, (e) => e[0] as string)).toEqual([['a1', 'b1', 'c1'], ['a2', 'b2'], ['a3']]);
  });

  it('gives nothing for no events', () => {
    expect(rounds([], String)).toEqual([]);
  });
});

describe('setAppliers', () => {
  it('hands each set handler the events of its type one round at a time, never two of one aggregate', async () => {
    const calls: string[] = [];
    const appliers = setAppliers([
      onMany(TenantSuspended, async (events) => {
        calls.push(`suspend ${events.map((e) => e.data.tenantId).join(',')}`);
      }),
      onMany(TenantActivated, async (events) => {
        calls.push(`activate ${events.map((e) => e.data.tenantId).join(',')}`);
      }),
    ]);
    await appliers.applyMany(client, [
      event(TenantSuspended.type, 'a'),
      event(TenantSuspended.type, 'b'),
      event(TenantActivated.type, 'a'),
      event(TenantSuspended.type, 'c'),
      event(TenantSuspended.type, 'a'),
      event('ttm.something.else.v1', 'b'),
    ]);
    expect(calls).toEqual(['suspend a,b,c', 'activate a', 'suspend a']);
  });

  it('runs one-at-a-time handlers for each event of their group, in order', async () => {
    const calls: string[] = [];
    const appliers = setAppliers([
      on(TenantSuspended, async (e: ReceivedEvent<{ tenantId: string }>) => {
        calls.push(e.data.tenantId);
      }),
    ]);
    await appliers.applyMany(client, [event(TenantSuspended.type, 'x'), event(TenantSuspended.type, 'y')]);
    await appliers.apply(client, event(TenantSuspended.type, 'z'));
    expect(calls).toEqual(['x', 'y', 'z']);
    expect([...appliers.types]).toEqual([TenantSuspended.type]);
  });

  it('refuses two handlers for one type', () => {
    expect(() =>
      setAppliers([onMany(TenantSuspended, async () => {}), onMany(TenantSuspended, async () => {})]),
    ).toThrow('two handlers');
  });
});
