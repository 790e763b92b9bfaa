import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import {
  type ActivateTenant,
  type DataOf,
  definitionOf,
  encodeMessage,
  type ProvisioningStep,
  type RegisterOrganization,
  Subjects,
  type SuspendTenant,
} from '@ttm/contracts';
import { type Catalog, handleCommand, type Logger, type Pool } from '@ttm/service-kit';
import type { DataPlane, WorkspacePlacement } from '../dataPlane/dataPlane.js';
import {
  initialState,
  nextStep,
  type TenantCommand,
  type TenantEvent,
  TenantRuleViolation,
  type TenantState,
  tenantDecider,
} from './decider.js';
import { forgetPlacement, NoCapacity, placeTenant } from './placement.js';
import { releaseSlug, reserveSlug } from './slugReservation.js';
import { tracedDataPlane, tracedStep } from './tracing.js';

export const SOURCE = '/ttm/provisioner';

export interface SagaDeps {
  js: JetStreamClient;
  pool: Pool;
  catalog: Catalog;
  dataPlane: DataPlane;
  slugs: KV;
  quotaState: KV;
  logger: Logger;
  /** Attempts per step before the saga compensates; the delay doubles from `retryDelayMs`. */
  stepAttempts: number;
  retryDelayMs: number;
  onProvisioned?: (durationMs: number) => void;
  onFailed?: (step: ProvisioningStep) => void;
  /** Test hook: runs after a step's effect and before its event is appended (the riskiest moment to crash). */
  afterStepEffect?: (step: ProvisioningStep) => void | Promise<void>;
}

/** Load the tenant, decide, append with the expected sequence; conflicts reload and retry. */
export async function executeTenantCommand(
  deps: Pick<SagaDeps, 'js'>,
  tenantId: string,
  command: TenantCommand,
  known?: Known,
): Promise<{ state: TenantState; events: TenantEvent[]; lastSeq: number }> {
  const result = await handleCommand({
    ...(known ? { known } : {}),
    js: deps.js,
    subject: Subjects.tenantEvents(tenantId),
    decider: tenantDecider,
    command,
    toEvent: (stored) => ({ type: stored.type, data: stored.data }) as TenantEvent,
    encode: (event: TenantEvent) => {
      const def = definitionOf(event.type);
      if (!def) throw new Error(`event type ${event.type} is not in the contracts`);
      return encodeMessage(def, event.data, { source: SOURCE, subject: tenantId });
    },
  });
  return { state: result.state, events: result.events, lastSeq: result.lastSeq };
}

/** The tenant as the saga last saw it: the next append expects `lastSeq`, a conflict reloads. */
type Known = { state: TenantState; lastSeq: number };

type StepOutcome = { slug?: string; placement?: WorkspacePlacement };

/**
 * Register the tenant and run the saga's remaining steps. Safe to run again at any
 * point (a redelivered command after a crash): finished steps are skipped because the
 * tenant's events say so, and every step's effect is idempotent.
 */
export async function provisionTenant(
  deps: SagaDeps,
  command: DataOf<typeof RegisterOrganization>,
): Promise<TenantState> {
  const { tenantId, provisioningId } = command;
  // Optimistic: a new tenant has no events yet. A redelivered command conflicts once and reloads.
  let known: Known = { state: initialState(), lastSeq: 0 };
  let { state, lastSeq } = await executeTenantCommand(
    deps,
    tenantId,
    {
      kind: 'Register',
      data: {
        tenantId,
        provisioningId,
        organizationName: command.organizationName,
        adminEmail: command.adminEmail,
        plan: command.plan,
        region: command.region,
      },
      at: new Date(),
    },
    known,
  );
  known = { state, lastSeq };
  if (state.provisioningId !== provisioningId) return state;

  for (let step = nextStep(state); step !== undefined; step = nextStep(state)) {
    let outcome: StepOutcome;
    try {
      outcome = await withRetries(
        () => tracedStep(step!, tenantId, () => runStep(deps, step!, state, command)),
        deps,
        step,
      );
    } catch (error) {
      const reason = describe(error);
      deps.logger.warn({ tenantId, step, err: error }, 'provisioning step failed; compensating');
      await compensate(deps, state);
      ({ state } = await executeTenantCommand(
        deps,
        tenantId,
        { kind: 'FailProvisioning', provisioningId, step, reason: `${step} failed: ${reason}`, at: new Date() },
        known,
      ));
      deps.onFailed?.(step);
      return state;
    }
    await deps.afterStepEffect?.(step);
    ({ state, lastSeq } = await executeTenantCommand(
      deps,
      tenantId,
      { kind: 'CompleteStep', provisioningId, step, ...outcome, at: new Date() },
      known,
    ));
    known = { state, lastSeq };
    if (step === 'activate' && state.status === 'active') {
      deps.onProvisioned?.(Date.now() - Date.parse(state.registeredAt ?? new Date().toISOString()));
    }
  }
  return state;
}

async function runStep(
  deps: SagaDeps,
  step: ProvisioningStep,
  state: TenantState,
  command: DataOf<typeof RegisterOrganization>,
): Promise<StepOutcome> {
  const tenantId = command.tenantId;
  switch (step) {
    case 'reserve-slug':
      return { slug: await reserveSlug(deps.slugs, tenantId, command.organizationName) };
    case 'place':
      return { placement: await placeTenant(deps, { tenantId, region: command.region, plan: command.plan }) };
    case 'create-workspace':
      await tracedDataPlane('create-workspace', requirePlacement(state), () =>
        deps.dataPlane.createWorkspace(requirePlacement(state), {
          workspaceId: tenantId,
          displayName: command.organizationName,
          subdomain: requireSlug(state),
          adminEmail: command.adminEmail,
          adminPasswordHash: command.adminPasswordHash,
        }),
      );
      return {};
    case 'apply-quotas': {
      const plan = deps.catalog.plan(command.plan);
      if (!plan) throw new Error(`plan ${command.plan} is no longer configured (PLANS)`);
      await deps.quotaState.put(
        quotaLimitsKey(tenantId),
        JSON.stringify({ plan: plan.name, quotas: plan.quotas, rateLimit: plan.rateLimit }),
      );
      return {};
    }
    case 'activate':
      await tracedDataPlane('activate-workspace', requirePlacement(state), () =>
        deps.dataPlane.setActivationStatus(requirePlacement(state), tenantId, 'ACTIVE'),
      );
      return {};
  }
}

/** Undo whatever the saga made so far; each part tolerates "was never made". */
async function compensate(deps: SagaDeps, state: TenantState): Promise<void> {
  const tenantId = state.tenantId!;
  const undo: [string, () => Promise<void>][] = [
    ['quota limits', () => deps.quotaState.delete(quotaLimitsKey(tenantId))],
    ['workspace', async () => (state.placement ? deps.dataPlane.dropWorkspace(state.placement, tenantId) : undefined)],
    ['placement', () => forgetPlacement(deps.pool, tenantId)],
    ['slug', async () => (state.slug ? releaseSlug(deps.slugs, state.slug, tenantId) : undefined)],
  ];
  for (const [what, action] of undo) {
    await action().catch((error: unknown) =>
      deps.logger.error({ tenantId, what, err: error }, 'compensation failed: remove it by hand'),
    );
  }
}

export async function suspendTenant(deps: SagaDeps, command: DataOf<typeof SuspendTenant>): Promise<TenantState> {
  const { state } = await executeTenantCommand(deps, command.tenantId, {
    kind: 'Suspend',
    reason: command.reason,
    actor: command.actor,
    at: new Date(),
  });
  // Also on a repeat: the data plane follows the tenant's state even if a crash cut in between.
  if (state.placement) await deps.dataPlane.setActivationStatus(state.placement, command.tenantId, 'SUSPENDED');
  return state;
}

export async function activateTenant(deps: SagaDeps, command: DataOf<typeof ActivateTenant>): Promise<TenantState> {
  const { state } = await executeTenantCommand(deps, command.tenantId, {
    kind: 'Activate',
    actor: command.actor,
    at: new Date(),
  });
  if (state.placement) await deps.dataPlane.setActivationStatus(state.placement, command.tenantId, 'ACTIVE');
  return state;
}

export function quotaLimitsKey(tenantId: string): string {
  return `${tenantId}.limits`;
}

async function withRetries<T>(work: () => Promise<T>, deps: SagaDeps, step: ProvisioningStep): Promise<T> {
  let delay = deps.retryDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= deps.stepAttempts || error instanceof NoCapacity || error instanceof TenantRuleViolation) {
        throw error;
      }
      deps.logger.info({ step, attempt, err: error }, 'provisioning step failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
      delay *= 2;
    }
  }
}

function requirePlacement(state: TenantState): WorkspacePlacement {
  if (!state.placement) throw new Error('the tenant has no placement yet');
  return state.placement;
}

function requireSlug(state: TenantState): string {
  if (!state.slug) throw new Error('the tenant has no slug yet');
  return state.slug;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500);
}
