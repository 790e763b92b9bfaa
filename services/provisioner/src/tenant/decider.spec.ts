import { DeciderSpecification } from '@ttm/service-kit/testing';
import { describe, expect, it } from 'vitest';
import {
  nextStep,
  PROVISIONING_STEPS,
  type TenantCommand,
  type TenantEvent,
  TenantRuleViolation,
  tenantDecider,
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
const given = DeciderSpecification.for(tenantDecider);

function provisioned(): TenantEvent[] {
  const events: TenantEvent[] = given().when(register).events();
  for (const { step } of PROVISIONING_STEPS) {
    const command: TenantCommand = {
      kind: 'CompleteStep',
      provisioningId,
      step,
      at,
      ...(step === 'reserve-slug' ? { slug: 'acme' } : {}),
      ...(step === 'place' ? { placement } : {}),
    };
    events.push(
      ...given(...events)
        .when(command)
        .events(),
    );
  }
  return events;
}

describe('tenant decider', () => {
  it('registers once; the same registration again decides nothing', () => {
    const events = given().when(register).events();
    expect(events.map((e) => e.type)).toEqual(['ttm.tenant.registered.v1']);
    given(...events)
      .when(register)
      .thenNothingHappened();
  });

  it('walks the saga in order to provisioned, each step once', () => {
    const events = provisioned();
    expect(events.map((e) => e.type)).toEqual([
      'ttm.tenant.registered.v1',
      ...Array(4).fill('ttm.tenant.provisioning-step-completed.v1'),
      'ttm.tenant.provisioned.v1',
    ]);
    const state = given(...events).state;
    expect(state).toMatchObject({ status: 'active', slug: 'acme' });
    expect(nextStep(state)).toBeUndefined();
    given(...events)
      .when({ kind: 'CompleteStep', provisioningId, step: 'place', placement, at })
      .thenNothingHappened();
  });

  it('reports the next step after a partial saga (crash recovery)', () => {
    const events = given().when(register).events();
    events.push(
      ...given(...events)
        .when({ kind: 'CompleteStep', provisioningId, step: 'reserve-slug', slug: 'acme', at })
        .events(),
    );
    expect(nextStep(given(...events).state)).toBe('place');
  });

  it('fails provisioning once', () => {
    const events = given().when(register).events();
    const failed = given(...events)
      .when({ kind: 'FailProvisioning', provisioningId, step: 'place', reason: 'no capacity', at })
      .events();
    expect(failed.map((e) => e.type)).toEqual(['ttm.tenant.provisioning-failed.v1']);
    given(...events, ...failed)
      .when({ kind: 'FailProvisioning', provisioningId, step: 'place', reason: 'x', at })
      .thenNothingHappened();
  });

  it('suspends an active tenant and reactivates it; repeats are no-ops', () => {
    const active = provisioned();
    const suspended = given(...active)
      .when({ kind: 'Suspend', reason: 'unpaid', actor, at })
      .events();
    expect(suspended.map((e) => e.type)).toEqual(['ttm.tenant.suspended.v1']);
    given(...active, ...suspended)
      .when({ kind: 'Suspend', reason: 'again', actor, at })
      .thenNothingHappened();
    const activated = given(...active, ...suspended)
      .when({ kind: 'Activate', actor, at })
      .events();
    expect(activated.map((e) => e.type)).toEqual(['ttm.tenant.activated.v1']);
    given(...active, ...suspended, ...activated)
      .when({ kind: 'Activate', actor, at })
      .thenNothingHappened();
  });

  it('refuses what the state does not allow', () => {
    given()
      .when({ kind: 'Suspend', reason: 'x', actor, at })
      .thenThrows(TenantRuleViolation, (e) => expect(e.code).toBe('not-found'));
    const pending = given().when(register).events();
    given(...pending)
      .when({ kind: 'Suspend', reason: 'x', actor, at })
      .thenThrows(TenantRuleViolation, (e) => expect(e.message).toMatch(/status provisioning/));
    given(...pending)
      .when({ kind: 'CompleteStep', provisioningId: tenantId, step: 'place', at })
      .thenThrows(TenantRuleViolation, (e) => expect(e.message).toMatch(/not this tenant's/));
  });

  it('moves the tenant only from where it lives, once per migration', () => {
    const active = provisioned();
    const migrationId = '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d';
    const to = { ...placement, cluster: 'use1-b', database: 'db_b' };
    const change: TenantCommand = { kind: 'ChangePlacement', migrationId, from: placement, to, at };
    const moved = given(...active)
      .when(change)
      .events();
    expect(moved).toEqual([
      {
        type: 'ttm.tenant.placement-changed.v1',
        data: { tenantId, migrationId, from: placement, to, changedAt: at.toISOString() },
      },
    ]);
    expect(given(...active, ...moved).state).toMatchObject({ placement: to });
    given(...active, ...moved)
      .when(change)
      .thenNothingHappened();
    given(...active, ...moved)
      .when({ ...change, migrationId: tenantId })
      .thenThrows(TenantRuleViolation, (e) => expect(e.message).toMatch(/placement changed/));
  });

  it('retries a provisioning that stalled on a transient error at the failed step, keeping what was done', () => {
    const events = given().when(register).events();
    for (const command of [
      { kind: 'CompleteStep', provisioningId, step: 'reserve-slug', slug: 'acme', at },
      { kind: 'CompleteStep', provisioningId, step: 'place', placement, at },
      {
        kind: 'FailProvisioning',
        provisioningId,
        step: 'create-workspace',
        reason: 'sorry, too many clients already',
        resumable: true,
        at,
      },
    ] satisfies TenantCommand[]) {
      events.push(
        ...given(...events)
          .when(command)
          .events(),
      );
    }
    expect(given(...events).state).toMatchObject({
      status: 'failed',
      failure: { step: 'create-workspace', resumable: true },
    });
    const retry: TenantCommand = { kind: 'RetryProvisioning', actor, at };
    const retried = given(...events)
      .when(retry)
      .events();
    expect(retried).toEqual([
      {
        type: 'ttm.tenant.provisioning-retried.v1',
        data: { tenantId, provisioningId, resumeAt: 'create-workspace', actor, retriedAt: at.toISOString() },
      },
    ]);
    const state = given(...events, ...retried).state;
    expect(state).toMatchObject({ status: 'provisioning', slug: 'acme', placement });
    expect(nextStep(state)).toBe('create-workspace');
    // A repeated retry while it runs decides nothing.
    given(...events, ...retried)
      .when(retry)
      .thenNothingHappened();
  });

  it('retries a compensated provisioning from the first step, and refuses a tenant that did not fail', () => {
    const events = given().when(register).events();
    events.push(
      ...given(...events)
        .when({ kind: 'CompleteStep', provisioningId, step: 'reserve-slug', slug: 'acme', at })
        .events(),
    );
    events.push(
      ...given(...events)
        .when({ kind: 'FailProvisioning', provisioningId, step: 'place', reason: 'no capacity', at })
        .events(),
    );
    const retried = given(...events)
      .when({ kind: 'RetryProvisioning', actor, at })
      .events();
    expect(retried[0]?.data).toMatchObject({ resumeAt: 'reserve-slug' });
    const state = given(...events, ...retried).state;
    expect(state).toMatchObject({ status: 'provisioning', completedSteps: [] });
    expect(state).not.toHaveProperty('slug');
    given(...provisioned())
      .when({ kind: 'RetryProvisioning', actor, at })
      .thenThrows(TenantRuleViolation, (e) => expect(e.code).toBe('invalid-state'));
    given()
      .when({ kind: 'RetryProvisioning', actor, at })
      .thenThrows(TenantRuleViolation, (e) => expect(e.code).toBe('not-found'));
  });

  it('records a schema upgrade once per upgrade and version, and its rollback', () => {
    const upgradeId = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
    const upgrade: TenantCommand = { kind: 'UpgradeSchema', upgradeId, from: 1, to: 2, lockHeldMs: 12.34, at };
    const events = given(...provisioned())
      .when(upgrade)
      .events();
    expect(events).toEqual([
      {
        type: 'ttm.tenant.schema-upgraded.v1',
        data: { tenantId, upgradeId, from: 1, to: 2, lockHeldMs: 12.3, upgradedAt: at.toISOString() },
      },
    ]);
    // A resumed upgrade finds the data plane at 2 already and asks again: nothing new.
    given(...provisioned(), ...events)
      .when(upgrade)
      .thenNothingHappened();
    given(...provisioned(), ...events)
      .when({ ...upgrade, from: 2 })
      .thenNothingHappened();
    // Already at the target before the upgrade reached it: nothing to record.
    given(...provisioned())
      .when({ ...upgrade, from: 2 })
      .thenNothingHappened();
    const rollback: TenantCommand = { ...upgrade, upgradeId: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', from: 2, to: 1 };
    const back = given(...provisioned(), ...events)
      .when(rollback)
      .events();
    expect(back.map((e) => e.data)).toMatchObject([{ from: 2, to: 1 }]);
    given(...provisioned(), ...events, ...back)
      .when({ ...upgrade, upgradeId: '2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e', from: 3, to: 4 })
      .thenThrows(TenantRuleViolation, (e) => expect(e.message).toMatch(/recorded schema version is 1/));
    given()
      .when(upgrade)
      .thenThrows(TenantRuleViolation, (e) => expect(e.code).toBe('not-found'));
  });

  it('archives an active tenant once and brings it back once per restore', () => {
    const archiveId = '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918';
    const restoreId = '2a3b4c5d-6e7f-4801-9a2b-3c4d5e6f7a8b';
    const archive: TenantCommand = { kind: 'Archive', archiveId, backupId: archiveId, reason: 'idle', actor, at };
    const archived = given(...provisioned())
      .when(archive)
      .events();
    expect(archived.map((e) => e.type)).toEqual(['ttm.tenant.archived.v1']);
    const state = given(...provisioned(), ...archived).state;
    expect(state).toMatchObject({ status: 'archived', archive: { archiveId, backupId: archiveId } });
    // The saga asking again after a crash: nothing new; another archive of an archived tenant is refused.
    given(...provisioned(), ...archived)
      .when(archive)
      .thenNothingHappened();
    given(...provisioned(), ...archived)
      .when({ ...archive, archiveId: restoreId })
      .thenThrows(TenantRuleViolation, (e) => expect(e.message).toMatch(/status archived/));
    // An archived tenant is neither suspended nor activated: it comes back through a restore only.
    given(...provisioned(), ...archived)
      .when({ kind: 'Suspend', reason: 'unpaid', actor, at })
      .thenThrows(TenantRuleViolation, (e) => expect(e.code).toBe('invalid-state'));

    const unarchive: TenantCommand = { kind: 'Unarchive', restoreId, backupId: archiveId, at };
    const back = given(...provisioned(), ...archived)
      .when(unarchive)
      .events();
    expect(back.map((e) => e.type)).toEqual(['ttm.tenant.unarchived.v1']);
    expect(given(...provisioned(), ...archived, ...back).state).toMatchObject({ status: 'active' });
    given(...provisioned(), ...archived, ...back)
      .when(unarchive)
      .thenNothingHappened();
    given(...provisioned())
      .when(unarchive)
      .thenThrows(TenantRuleViolation, (e) => expect(e.message).toMatch(/not archived/));
    // A tenant still provisioning (or suspended) is not archived.
    given(...given().when(register).events())
      .when(archive)
      .thenThrows(TenantRuleViolation, (e) => expect(e.message).toMatch(/status provisioning/));
  });
});
