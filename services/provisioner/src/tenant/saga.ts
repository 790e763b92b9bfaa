import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Placement } from '@ttm/contracts';
import {
  type ActivateTenant,
  type ArchiveTenant,
  type ChangeTenantPlacement,
  type DataOf,
  type ProvisioningStep,
  type RegisterOrganization,
  type RetryProvisioning,
  Subjects,
  type SuspendTenant,
  type UnarchiveTenant,
} from '@ttm/contracts';
import {
  type Catalog,
  defineAggregate,
  isTransientDatabaseError,
  isTransientNatsError,
  type Logger,
  type Pool,
  runSaga,
} from '@ttm/service-kit';
import type { DataPlane } from '../dataPlane/dataPlane.js';
import {
  initialState,
  PROVISIONING_STEPS,
  type RegisteredTenant,
  type TenantCommand,
  type TenantEvent,
  TenantRuleViolation,
  type TenantState,
  tenantDecider,
} from './decider.js';
import { forgetPendingCredentials, keepPendingCredentials, readPendingCredentials } from './pendingCredentials.js';
import { forgetPlacement, NoCapacity, placeTenant } from './placement.js';
import { STEP_TRANSIENT } from './redelivery.js';
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

/** The tenant aggregate: load, decide, append with the expected sequence; conflicts reload and retry. */
export const tenantAggregate = defineAggregate({
  subject: Subjects.tenantEvents,
  decider: tenantDecider,
  source: SOURCE,
});

/** Carry out one command on a tenant (the saga's only way to change it). */
export function executeTenantCommand(
  deps: Pick<SagaDeps, 'js'>,
  tenantId: string,
  command: TenantCommand,
  known?: Known,
): Promise<{ state: TenantState; events: TenantEvent[]; lastSeq: number }> {
  return tenantAggregate.execute(deps.js, tenantId, command, known);
}

/** The tenant as the saga last saw it: the next append expects `lastSeq`, a conflict reloads. */
type Known = { state: TenantState; lastSeq: number };

type StepOutcome = { slug?: string; placement?: Placement };

/**
 * Register the tenant and run the saga's remaining steps. Safe to run again at any
 * point (a redelivered command after a crash): finished steps are skipped because the
 * tenant's events say so, and every step's effect is idempotent.
 */
export async function provisionTenant(
  deps: SagaDeps,
  command: Registration,
  options: { lastDelivery?: boolean } = {},
): Promise<TenantState> {
  const { tenantId, provisioningId } = command;
  // Optimistic: a new tenant has no events yet. A redelivered command conflicts once and reloads.
  let known: Known = { state: initialState(), lastSeq: 0 };
  const { state, lastSeq } = await executeTenantCommand(
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
  if (state.status === 'none' || state.provisioningId !== provisioningId) return state;
  return runProvisioning(deps, state, known, command, options.lastDelivery);
}

/**
 * An operator retries a failed provisioning (`ttm.tenant.retry-provisioning.v1`): the decider
 * records where it resumes, then the saga's remaining steps run as for a registration. A repeat
 * (or a redelivery after a crash) finds the tenant provisioning and runs what is left.
 */
export async function retryProvisioning(
  deps: SagaDeps,
  command: DataOf<typeof RetryProvisioning>,
): Promise<TenantState> {
  const result = await executeTenantCommand(deps, command.tenantId, {
    kind: 'RetryProvisioning',
    actor: command.actor,
    at: new Date(),
  });
  const state = result.state;
  if (state.status !== 'provisioning') return state;
  const known: Known = { state, lastSeq: result.lastSeq };
  const needsHash = !state.completedSteps.includes('create-workspace');
  const adminPasswordHash = needsHash ? await readPendingCredentials(deps.pool, state.tenantId) : undefined;
  if (needsHash && !adminPasswordHash) {
    // Only a provisioning that failed before this build kept nothing to resume from.
    const reason = 'the admin password of this registration is no longer known: register the organization again';
    await executeTenantCommand(
      deps,
      state.tenantId,
      {
        kind: 'FailProvisioning',
        provisioningId: state.provisioningId,
        step: 'create-workspace',
        reason,
        at: new Date(),
      },
      known,
    );
    return state;
  }
  return runProvisioning(deps, state, known, {
    tenantId: state.tenantId,
    organizationName: state.organizationName,
    adminEmail: state.adminEmail,
    adminPasswordHash: adminPasswordHash ?? '',
    plan: state.plan,
    region: state.region,
  });
}

/** A registration command with its admin password hash opened (see sealedCredentials.ts). */
export type Registration = Omit<DataOf<typeof RegisterOrganization>, 'adminPasswordHash'> & {
  adminPasswordHash: string;
};

/** What the saga's steps need of a registration. */
type ProvisioningInput = Pick<
  Registration,
  'tenantId' | 'organizationName' | 'adminEmail' | 'adminPasswordHash' | 'plan' | 'region'
>;

async function runProvisioning(
  deps: SagaDeps,
  state: RegisteredTenant,
  initiallyKnown: Known,
  input: ProvisioningInput,
  lastDelivery?: boolean,
): Promise<TenantState> {
  const { tenantId } = input;
  const { provisioningId } = state;
  let known = initiallyKnown;
  let tenant: RegisteredTenant = state;
  const record = async (next: TenantCommand) => {
    const result = await executeTenantCommand(deps, tenantId, next, known);
    known = { state: result.state, lastSeq: result.lastSeq };
    if (result.state.status !== 'none') tenant = result.state;
  };
  await runSaga<ProvisioningStep, StepOutcome>({
    steps: PROVISIONING_STEPS.map(({ step }) => ({
      step,
      run: () => tracedStep(step, tenantId, () => runStep(deps, step, tenant, input)),
    })),
    isRunning: () => tenant.status === 'provisioning',
    isDone: (step) => tenant.completedSteps.includes(step),
    attempts: deps.stepAttempts,
    retryDelayMs: deps.retryDelayMs,
    isPermanent: (error) => error instanceof NoCapacity || error instanceof TenantRuleViolation,
    // NATS electing a leader after a node loss, or PostgreSQL restarting, outlasts a step's few
    // attempts: leave the command to its redelivery instead of failing the registration. On the
    // command's last delivery the provisioning stalls (`onStalled`): nothing is undone, and an
    // operator's retry resumes at the step.
    isTransient: (error) => isTransientNatsError(error) || isTransientDatabaseError(error),
    transientAttempts: STEP_TRANSIENT.attempts,
    maxRetryDelayMs: STEP_TRANSIENT.maxDelayMs,
    ...(lastDelivery === undefined ? {} : { lastDelivery }),
    redeliver: 'transient',
    onRetry: (step, attempt, error) =>
      deps.logger.info({ step, attempt, err: error }, 'provisioning step failed; retrying'),
    afterStep: (step) => deps.afterStepEffect?.(step),
    complete: async (step, outcome) => {
      await record({ kind: 'CompleteStep', provisioningId, step, ...outcome, at: new Date() });
      if (step === 'create-workspace') await forgetPendingCredentials(deps.pool, tenantId);
      if (step === 'activate' && tenant.status === 'active') {
        deps.onProvisioned?.(Date.now() - Date.parse(tenant.registeredAt));
      }
    },
    // A transient error outlasted the retries: keep everything, so `tenant-cli retry` resumes here.
    onStalled: async (step, error) => {
      deps.logger.warn({ tenantId, step, err: error }, 'provisioning stalled on a transient error; retry it later');
      if (!tenant.completedSteps.includes('create-workspace')) {
        // PostgreSQL may be what is away: record the stop all the same (a retry without the
        // password hash asks to register again) rather than leave the tenant provisioning for ever.
        await keepPendingCredentials(deps.pool, tenantId, input.adminPasswordHash).catch((keepError: unknown) =>
          deps.logger.error({ tenantId, err: keepError }, 'could not keep the admin password hash for a retry'),
        );
      }
      const reason = `${step} failed: ${describe(error)} (transient: nothing was undone; retry the provisioning)`;
      await record({ kind: 'FailProvisioning', provisioningId, step, reason, resumable: true, at: new Date() });
      deps.onFailed?.(step);
    },
    compensate: async (step, failure) => {
      const error = 'error' in failure ? failure.error : undefined;
      deps.logger.warn({ tenantId, step, err: error }, 'provisioning step failed; compensating');
      await compensate(deps, tenant);
      await keepPendingCredentials(deps.pool, tenantId, input.adminPasswordHash);
      const reason = `${step} failed: ${describe(error)}`;
      await record({ kind: 'FailProvisioning', provisioningId, step, reason, at: new Date() });
      deps.onFailed?.(step);
    },
  });
  return known.state;
}

async function runStep(
  deps: SagaDeps,
  step: ProvisioningStep,
  state: RegisteredTenant,
  command: ProvisioningInput,
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
async function compensate(deps: SagaDeps, state: RegisteredTenant): Promise<void> {
  const tenantId = state.tenantId;
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
  const placement = placementOf(state);
  if (placement) await deps.dataPlane.setActivationStatus(placement, command.tenantId, 'SUSPENDED');
  return state;
}

export async function activateTenant(deps: SagaDeps, command: DataOf<typeof ActivateTenant>): Promise<TenantState> {
  const { state } = await executeTenantCommand(deps, command.tenantId, {
    kind: 'Activate',
    actor: command.actor,
    at: new Date(),
  });
  const placement = placementOf(state);
  if (placement) await deps.dataPlane.setActivationStatus(placement, command.tenantId, 'ACTIVE');
  return state;
}

/** A migration's switch: the tenant lives at `to` from now on (the data plane there is the migration's). */
export async function changeTenantPlacement(
  deps: SagaDeps,
  command: DataOf<typeof ChangeTenantPlacement>,
): Promise<TenantState> {
  const { state } = await executeTenantCommand(deps, command.tenantId, {
    kind: 'ChangePlacement',
    migrationId: command.migrationId,
    from: command.from,
    to: command.to,
    at: new Date(),
  });
  return state;
}

/** The archive saga (backup service) records the archive once its backup is verified. */
export async function archiveTenant(deps: SagaDeps, command: DataOf<typeof ArchiveTenant>): Promise<TenantState> {
  const { state } = await executeTenantCommand(deps, command.tenantId, {
    kind: 'Archive',
    archiveId: command.archiveId,
    backupId: command.backupId,
    reason: command.reason,
    actor: command.actor,
    at: new Date(),
  });
  return state;
}

/** The restore of an archived tenant records it back once its workspace is reloaded. */
export async function unarchiveTenant(deps: SagaDeps, command: DataOf<typeof UnarchiveTenant>): Promise<TenantState> {
  const { state } = await executeTenantCommand(deps, command.tenantId, {
    kind: 'Unarchive',
    restoreId: command.restoreId,
    backupId: command.backupId,
    at: new Date(),
  });
  return state;
}

export function quotaLimitsKey(tenantId: string): string {
  return `${tenantId}.limits`;
}

function placementOf(state: TenantState): Placement | undefined {
  return state.status === 'none' ? undefined : state.placement;
}

function requirePlacement(state: RegisteredTenant): Placement {
  if (!state.placement) throw new Error('the tenant has no placement yet');
  return state.placement;
}

function requireSlug(state: RegisteredTenant): string {
  if (!state.slug) throw new Error('the tenant has no slug yet');
  return state.slug;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500);
}
