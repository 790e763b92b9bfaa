import { describe, expect, it } from 'vitest';
import {
  decide,
  evolve,
  initialState,
  nextStep,
  PROVISIONING_STEPS,
  type TenantCommand,
  type TenantEvent,
  TenantRuleViolation,
} from './decider.js';

const tenantId = '0b7c1f4e-8a51-4d3c-9a77-1f1d1b2c3d4e';
const provisioningId = '5d1f0c7a-2b3c-4d5e-8f90-a1b2c3d4e5f6';
const at = new Date('2026-11-26T12:00:00.000Z');
const actor = { kind: 'admin' as const, id: 'ops' };
const placement = { region: 'us-east-1', cluster: 'use1-a', kind: 'schema' as const, database: 'db', schema: 'ws' };

const register: TenantCommand = {
  kind: 'Register',
  data: {
    tenantId,
    provisioningId,
    organizationName: 'Acme',
    adminEmail: 'a@acme.test',
    plan: 'pro',
    region: 'us-east-1',
  },
  at,
};

/** given events, when command, then the decided events (or the error). */
function given(...events: TenantEvent[]) {
  const state = events.reduce(evolve, initialState());
  return { when: (command: TenantCommand) => decide(command, state), state };
}

function provisioned(): TenantEvent[] {
  const events: TenantEvent[] = [...given().when(register)];
  for (const { step } of PROVISIONING_STEPS) {
    const command: TenantCommand = {
      kind: 'CompleteStep',
      provisioningId,
      step,
      at,
      ...(step === 'reserve-slug' ? { slug: 'acme' } : {}),
      ...(step === 'place' ? { placement } : {}),
    };
    events.push(...given(...events).when(command));
  }
  return events;
}

describe('tenant decider', () => {
  it('registers once; the same registration again decides nothing', () => {
    const events = given().when(register);
    expect(events.map((e) => e.type)).toEqual(['ttm.tenant.registered.v1']);
    expect(given(...events).when(register)).toEqual([]);
  });

  it('walks the saga in order to provisioned, each step once', () => {
    const events = provisioned();
    expect(events.map((e) => e.type)).toEqual([
      'ttm.tenant.registered.v1',
      ...Array(4).fill('ttm.tenant.provisioning-step-completed.v1'),
      'ttm.tenant.provisioned.v1',
    ]);
    const state = given(...events).state;
    expect(state.status).toBe('active');
    expect(state.slug).toBe('acme');
    expect(nextStep(state)).toBeUndefined();
    expect(given(...events).when({ kind: 'CompleteStep', provisioningId, step: 'place', placement, at })).toEqual([]);
  });

  it('reports the next step after a partial saga (crash recovery)', () => {
    const events = [...given().when(register)];
    events.push(
      ...given(...events).when({ kind: 'CompleteStep', provisioningId, step: 'reserve-slug', slug: 'acme', at }),
    );
    expect(nextStep(given(...events).state)).toBe('place');
  });

  it('fails provisioning once', () => {
    const events = given().when(register);
    const failed = given(...events).when({
      kind: 'FailProvisioning',
      provisioningId,
      step: 'place',
      reason: 'no capacity',
      at,
    });
    expect(failed.map((e) => e.type)).toEqual(['ttm.tenant.provisioning-failed.v1']);
    expect(
      given(...events, ...failed).when({ kind: 'FailProvisioning', provisioningId, step: 'place', reason: 'x', at }),
    ).toEqual([]);
  });

  it('suspends an active tenant and reactivates it; repeats are no-ops', () => {
    const active = provisioned();
    const suspended = given(...active).when({ kind: 'Suspend', reason: 'unpaid', actor, at });
    expect(suspended.map((e) => e.type)).toEqual(['ttm.tenant.suspended.v1']);
    expect(given(...active, ...suspended).when({ kind: 'Suspend', reason: 'again', actor, at })).toEqual([]);
    const activated = given(...active, ...suspended).when({ kind: 'Activate', actor, at });
    expect(activated.map((e) => e.type)).toEqual(['ttm.tenant.activated.v1']);
    expect(given(...active, ...suspended, ...activated).when({ kind: 'Activate', actor, at })).toEqual([]);
  });

  it('refuses what the state does not allow', () => {
    expect(() => given().when({ kind: 'Suspend', reason: 'x', actor, at })).toThrow(TenantRuleViolation);
    const pending = given().when(register);
    expect(() => given(...pending).when({ kind: 'Suspend', reason: 'x', actor, at })).toThrow(/status provisioning/);
    expect(() => given(...pending).when({ kind: 'CompleteStep', provisioningId: tenantId, step: 'place', at })).toThrow(
      /not this tenant's/,
    );
  });
});
