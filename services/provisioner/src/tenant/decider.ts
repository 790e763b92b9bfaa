import {
  checkLifecycleChange,
  type DataOf,
  type LifecycleChange,
  type Placement,
  ProvisioningFailed,
  ProvisioningRetried,
  type ProvisioningStep,
  ProvisioningStepCompleted,
  samePlacement,
  TenantActivated,
  TenantArchived,
  TenantPlacementChanged,
  TenantProvisioned,
  TenantRegistered,
  TenantSchemaUpgraded,
  TenantSuspended,
  TenantUnarchived,
} from '@ttm/contracts';

/** The events of the tenant aggregate, as the decider sees them. */
export type TenantEvent =
  | { type: typeof TenantRegistered.type; data: DataOf<typeof TenantRegistered> }
  | { type: typeof ProvisioningStepCompleted.type; data: DataOf<typeof ProvisioningStepCompleted> }
  | { type: typeof TenantProvisioned.type; data: DataOf<typeof TenantProvisioned> }
  | { type: typeof ProvisioningFailed.type; data: DataOf<typeof ProvisioningFailed> }
  | { type: typeof ProvisioningRetried.type; data: DataOf<typeof ProvisioningRetried> }
  | { type: typeof TenantSuspended.type; data: DataOf<typeof TenantSuspended> }
  | { type: typeof TenantActivated.type; data: DataOf<typeof TenantActivated> }
  /** A migration switched the tenant to its new placement (`ChangeTenantPlacement`). */
  | { type: typeof TenantPlacementChanged.type; data: DataOf<typeof TenantPlacementChanged> }
  /** A fleet upgrade (or its rollback) moved the workspace to another schema version. */
  | { type: typeof TenantSchemaUpgraded.type; data: DataOf<typeof TenantSchemaUpgraded> }
  /** The archive saga verified a backup and is dropping the workspace; the tenant waits for a sign-in. */
  | { type: typeof TenantArchived.type; data: DataOf<typeof TenantArchived> }
  /** A restore reloaded an archived tenant's workspace. */
  | { type: typeof TenantUnarchived.type; data: DataOf<typeof TenantUnarchived> };

type Actor = DataOf<typeof TenantSuspended>['actor'];

export type TenantCommand =
  | { kind: 'Register'; data: Omit<DataOf<typeof TenantRegistered>, 'registeredAt'>; at: Date }
  | {
      kind: 'CompleteStep';
      provisioningId: string;
      step: ProvisioningStep;
      slug?: string;
      placement?: Placement;
      at: Date;
    }
  | {
      kind: 'FailProvisioning';
      provisioningId: string;
      step: ProvisioningStep;
      reason: string;
      /** Nothing was undone (a transient error outlasted the retries): a retry resumes at `step`. */
      resumable?: boolean;
      at: Date;
    }
  | { kind: 'RetryProvisioning'; actor: Actor; at: Date }
  | { kind: 'Suspend'; reason: string; actor: Actor; at: Date }
  | { kind: 'Activate'; actor: Actor; at: Date }
  | { kind: 'ChangePlacement'; migrationId: string; from: Placement; to: Placement; at: Date }
  /** Record a schema version change the data plane has committed (`from` is what it found there). */
  | { kind: 'UpgradeSchema'; upgradeId: string; from: number; to: number; lockHeldMs: number; at: Date }
  /** Record the archive once its backup is verified (the saga drops the workspace after this). */
  | {
      kind: 'Archive';
      archiveId: string;
      backupId: string;
      reason: DataOf<typeof TenantArchived>['reason'];
      actor: Actor;
      at: Date;
    }
  /** Record that a restore brought an archived tenant back. */
  | { kind: 'Unarchive'; restoreId: string; backupId: string; at: Date };

export type TenantStatus = 'none' | 'provisioning' | 'active' | 'failed' | 'suspended' | 'archived';

/** A tenant that was registered: everything but its slug and placement is known from then on. */
export interface RegisteredTenant {
  status: Exclude<TenantStatus, 'none'>;
  tenantId: string;
  provisioningId: string;
  organizationName: string;
  adminEmail: string;
  plan: string;
  region: string;
  slug?: string;
  placement?: Placement;
  /** The migration that set the current placement, if one did. */
  placedBy?: string;
  /** The last schema version change recorded: unset means "as provisioned" (the data plane knows). */
  schema?: { version: number; upgradeId: string };
  registeredAt: string;
  completedSteps: ProvisioningStep[];
  /** Why provisioning stopped, while `failed`. */
  failure?: { step: ProvisioningStep; resumable: boolean };
  /** While `archived`: the archive and the verified backup that holds the tenant's data. */
  archive?: { archiveId: string; backupId: string };
  /** The restore that last brought the tenant back from an archive. */
  unarchivedBy?: string;
}

export type TenantState = { status: 'none'; completedSteps: ProvisioningStep[] } | RegisteredTenant;

/** The saga's steps in order, with the progress reported when each completes. */
export const PROVISIONING_STEPS: readonly { step: ProvisioningStep; progress: number }[] = [
  { step: 'reserve-slug', progress: 20 },
  { step: 'place', progress: 40 },
  { step: 'create-workspace', progress: 75 },
  { step: 'apply-quotas', progress: 90 },
  { step: 'activate', progress: 100 },
];

/** A command the tenant's current state does not allow; `code` is stable for API errors. */
export class TenantRuleViolation extends Error {
  constructor(
    readonly code: 'not-found' | 'invalid-state' | 'provisioning-mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'TenantRuleViolation';
  }
}

export const initialState = (): TenantState => ({ status: 'none', completedSteps: [] });

export function evolve(state: TenantState, event: TenantEvent): TenantState {
  switch (event.type) {
    case TenantRegistered.type: {
      const e = event.data;
      return {
        status: 'provisioning',
        tenantId: e.tenantId,
        provisioningId: e.provisioningId,
        organizationName: e.organizationName,
        adminEmail: e.adminEmail,
        plan: e.plan,
        region: e.region,
        registeredAt: e.registeredAt,
        completedSteps: [],
      };
    }
    case ProvisioningStepCompleted.type: {
      const e = event.data;
      if (state.status === 'none') return state;
      return {
        ...state,
        ...(e.slug === undefined ? {} : { slug: e.slug }),
        ...(e.placement === undefined ? {} : { placement: e.placement }),
        completedSteps: [...state.completedSteps, e.step],
      };
    }
    case TenantProvisioned.type:
      if (state.status === 'none') return state;
      return {
        ...state,
        status: 'active',
        slug: event.data.slug,
        placement: event.data.placement,
        completedSteps: [...state.completedSteps, 'activate'],
      };
    case ProvisioningFailed.type:
      return state.status === 'none'
        ? state
        : { ...state, status: 'failed', failure: { step: event.data.step, resumable: event.data.resumable === true } };
    case ProvisioningRetried.type: {
      if (state.status === 'none') return state;
      const { failure: _, ...rest } = state;
      const resume = PROVISIONING_STEPS.findIndex((s) => s.step === event.data.resumeAt);
      // Steps before `resumeAt` stay done; a compensated failure resumes at the first step, with nothing kept.
      if (resume > 0) return { ...rest, status: 'provisioning' };
      const { slug: _slug, placement: _placement, ...fresh } = rest;
      return { ...fresh, status: 'provisioning', completedSteps: [] };
    }
    case TenantSuspended.type:
      return state.status === 'none' ? state : { ...state, status: 'suspended' };
    case TenantActivated.type:
      return state.status === 'none' ? state : { ...state, status: 'active' };
    case TenantPlacementChanged.type:
      return state.status === 'none'
        ? state
        : { ...state, region: event.data.to.region, placement: event.data.to, placedBy: event.data.migrationId };
    case TenantSchemaUpgraded.type:
      return state.status === 'none'
        ? state
        : { ...state, schema: { version: event.data.to, upgradeId: event.data.upgradeId } };
    case TenantArchived.type:
      return state.status === 'none'
        ? state
        : {
            ...state,
            status: 'archived',
            archive: { archiveId: event.data.archiveId, backupId: event.data.backupId },
          };
    case TenantUnarchived.type: {
      if (state.status === 'none') return state;
      const { archive: _, ...rest } = state;
      return { ...rest, status: 'active', unarchivedBy: event.data.restoreId };
    }
    default:
      // A tenant event this build does not know changes nothing the provisioner decides on.
      return state;
  }
}

/**
 * Pure rules of the tenant aggregate. A command that was already carried out
 * decides no events, which is what makes every redelivery harmless.
 */
export function decide(command: TenantCommand, state: TenantState): TenantEvent[] {
  const at = command.at.toISOString();
  switch (command.kind) {
    case 'Register': {
      if (state.status !== 'none') {
        if (state.provisioningId === command.data.provisioningId) return [];
        throw new TenantRuleViolation('invalid-state', `tenant ${command.data.tenantId} is already registered`);
      }
      return [{ type: TenantRegistered.type, data: { ...command.data, registeredAt: at } }];
    }
    case 'CompleteStep': {
      requireProvisioning(state, command.provisioningId);
      if (state.completedSteps.includes(command.step) || state.status !== 'provisioning') return [];
      const progress = PROVISIONING_STEPS.find((s) => s.step === command.step)?.progress ?? 0;
      const base = { tenantId: state.tenantId, provisioningId: command.provisioningId };
      if (command.step === 'activate') {
        const placement = command.placement ?? state.placement;
        const slug = command.slug ?? state.slug;
        if (!placement || !slug) {
          throw new TenantRuleViolation(
            'invalid-state',
            'a tenant is activated only once it has a slug and a placement',
          );
        }
        const durationMs = Math.max(0, command.at.getTime() - Date.parse(state.registeredAt));
        return [{ type: TenantProvisioned.type, data: { ...base, slug, placement, durationMs, provisionedAt: at } }];
      }
      return [
        {
          type: ProvisioningStepCompleted.type,
          data: {
            ...base,
            step: command.step,
            progress,
            ...(command.slug === undefined ? {} : { slug: command.slug }),
            ...(command.placement === undefined ? {} : { placement: command.placement }),
            completedAt: at,
          },
        },
      ];
    }
    case 'FailProvisioning': {
      requireProvisioning(state, command.provisioningId);
      if (state.status !== 'provisioning') return [];
      return [
        {
          type: ProvisioningFailed.type,
          data: {
            tenantId: state.tenantId,
            provisioningId: command.provisioningId,
            step: command.step,
            reason: command.reason,
            ...(command.resumable ? { resumable: true } : {}),
            failedAt: at,
          },
        },
      ];
    }
    case 'RetryProvisioning':
      return retryProvisioning(command, state);
    case 'Suspend': {
      const tenant = lifecycleTarget('suspend', state);
      if (!tenant) return [];
      return [
        {
          type: TenantSuspended.type,
          data: { tenantId: tenant.tenantId, reason: command.reason, actor: command.actor, suspendedAt: at },
        },
      ];
    }
    case 'Activate': {
      const tenant = lifecycleTarget('activate', state);
      if (!tenant) return [];
      return [
        { type: TenantActivated.type, data: { tenantId: tenant.tenantId, actor: command.actor, activatedAt: at } },
      ];
    }
    case 'ChangePlacement':
      return changePlacement(command, state);
    case 'UpgradeSchema':
      return upgradeSchema(command, state);
    case 'Archive':
      return archive(command, state);
    case 'Unarchive':
      return unarchive(command, state);
  }
}

/**
 * Only an active tenant is archived (a suspended one stays as the operator left it). The saga
 * asks once its backup is verified; asking again for the same archive decides nothing.
 */
function archive(command: Extract<TenantCommand, { kind: 'Archive' }>, state: TenantState): TenantEvent[] {
  if (state.status === 'none') throw new TenantRuleViolation('not-found', 'no such tenant');
  if (state.status === 'archived' && state.archive?.archiveId === command.archiveId) return [];
  if (state.status !== 'active') {
    throw new TenantRuleViolation('invalid-state', `a tenant in status ${state.status} cannot be archived`);
  }
  return [
    {
      type: TenantArchived.type,
      data: {
        tenantId: state.tenantId,
        archiveId: command.archiveId,
        backupId: command.backupId,
        reason: command.reason,
        actor: command.actor,
        archivedAt: command.at.toISOString(),
      },
    },
  ];
}

/** The restore of an archived tenant records it back once; a repeat of the same restore decides nothing. */
function unarchive(command: Extract<TenantCommand, { kind: 'Unarchive' }>, state: TenantState): TenantEvent[] {
  if (state.status === 'none') throw new TenantRuleViolation('not-found', 'no such tenant');
  if (state.status !== 'archived') {
    if (state.unarchivedBy === command.restoreId) return [];
    throw new TenantRuleViolation('invalid-state', `a tenant in status ${state.status} is not archived`);
  }
  return [
    {
      type: TenantUnarchived.type,
      data: {
        tenantId: state.tenantId,
        restoreId: command.restoreId,
        backupId: command.backupId,
        unarchivedAt: command.at.toISOString(),
      },
    },
  ];
}

/** A failed provisioning starts again: at the failed step if nothing was undone, else from the start. */
function retryProvisioning(
  command: Extract<TenantCommand, { kind: 'RetryProvisioning' }>,
  state: TenantState,
): TenantEvent[] {
  if (state.status === 'none') throw new TenantRuleViolation('not-found', 'no such tenant');
  // Retried already (or never failed and still going): the provisioning under way finishes the job.
  if (state.status === 'provisioning') return [];
  if (state.status !== 'failed') {
    throw new TenantRuleViolation(
      'invalid-state',
      `a tenant in status ${state.status} has nothing to retry: only a failed provisioning can be retried`,
    );
  }
  const first = PROVISIONING_STEPS[0]!.step;
  const resumeAt = state.failure?.resumable ? state.failure.step : first;
  return [
    {
      type: ProvisioningRetried.type,
      data: {
        tenantId: state.tenantId,
        provisioningId: state.provisioningId,
        resumeAt,
        actor: command.actor,
        retriedAt: command.at.toISOString(),
      },
    },
  ];
}

/**
 * The data plane's transaction already moved the workspace (it holds the version, so it never
 * runs twice); this records it once: a tenant recorded at the target version is a repeat. A `from` that is not the version last recorded means the recorded history is
 * behind the data plane (or ahead of it): refused, for an operator to look at.
 */
function upgradeSchema(command: Extract<TenantCommand, { kind: 'UpgradeSchema' }>, state: TenantState): TenantEvent[] {
  if (state.status === 'none') throw new TenantRuleViolation('not-found', 'no such tenant');
  // Recorded at that version already (a resumed upgrade asking again), or no change at all.
  if (state.schema?.version === command.to || command.from === command.to) return [];
  if (state.schema && state.schema.version !== command.from) {
    throw new TenantRuleViolation(
      'invalid-state',
      `the tenant's recorded schema version is ${state.schema.version}, not ${command.from}`,
    );
  }
  return [
    {
      type: TenantSchemaUpgraded.type,
      data: {
        tenantId: state.tenantId,
        upgradeId: command.upgradeId,
        from: command.from,
        to: command.to,
        lockHeldMs: Math.round(command.lockHeldMs * 10) / 10,
        upgradedAt: command.at.toISOString(),
      },
    },
  ];
}

function changePlacement(
  command: Extract<TenantCommand, { kind: 'ChangePlacement' }>,
  state: TenantState,
): TenantEvent[] {
  if (state.status === 'none') throw new TenantRuleViolation('not-found', 'no such tenant');
  if (state.placedBy === command.migrationId) return [];
  if (!samePlacement(state.placement, command.from)) {
    throw new TenantRuleViolation('invalid-state', 'the tenant placement changed while it was being migrated');
  }
  return [
    {
      type: TenantPlacementChanged.type,
      data: {
        tenantId: state.tenantId,
        migrationId: command.migrationId,
        from: command.from,
        to: command.to,
        changedAt: command.at.toISOString(),
      },
    },
  ];
}

function requireProvisioning(state: TenantState, provisioningId: string): asserts state is RegisteredTenant {
  if (state.status === 'none') throw new TenantRuleViolation('not-found', 'the tenant is not registered');
  if (state.provisioningId !== provisioningId) {
    throw new TenantRuleViolation('provisioning-mismatch', `provisioning ${provisioningId} is not this tenant's`);
  }
}

/**
 * The shared suspend/activate rule (`checkLifecycleChange` in the contracts): the tenant the
 * change applies to, undefined when it is in the target status already; refusals throw.
 */
function lifecycleTarget(change: LifecycleChange, state: TenantState): RegisteredTenant | undefined {
  const check = checkLifecycleChange(change, state.status);
  if (check.outcome === 'refused') throw new TenantRuleViolation(check.code, check.message);
  return check.outcome === 'already' || state.status === 'none' ? undefined : state;
}

export const tenantDecider = { decide, evolve, initialState };

/** The next saga step not yet completed, or undefined when provisioning is over. */
export function nextStep(state: TenantState): ProvisioningStep | undefined {
  if (state.status !== 'provisioning') return undefined;
  return PROVISIONING_STEPS.find((s) => !state.completedSteps.includes(s.step))?.step;
}
