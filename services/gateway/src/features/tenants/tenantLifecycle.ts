import {
  ActivateTenant,
  checkLifecycleChange,
  encodeMessage,
  type LifecycleChange,
  LifecycleTransitions,
  RetryProvisioning,
  Subjects,
  SuspendTenant,
} from '@ttm/contracts';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { adminActorOf } from '../../plugins/adminAuth.js';
import type { OperationTracker } from '../operations/tracker.js';
import { TenantNotFound, TenantStateConflict } from './problems.js';
import type { TenantDetail, TenantItem } from './schemas.js';
import { tenantFromEvents } from './tenantHistory.js';

/** How long suspend and activate wait for the provisioner before answering 202 instead of 200. */
export const STATUS_CHANGE_WAIT_MS = 5_000;

const SOURCE = '/ttm/gateway';

/** A tenant read from its events (the source of truth), with its plan's quotas. */
export async function showTenant(
  deps: Pick<GatewayDeps, 'directory' | 'js' | 'catalog'>,
  tenantId: string,
): Promise<TenantDetail | undefined> {
  // Unknown ids are answered from memory, without touching the stream.
  if (!deps.directory.get(tenantId)) return undefined;
  const { events } = await readAggregate(deps.js, Subjects.tenantEvents(tenantId));
  const history = tenantFromEvents(events);
  if (!history) return undefined;
  return { ...history, quotas: deps.catalog.plan(history.plan)?.quotas ?? null };
}

export function itemOf(detail: TenantDetail): TenantItem {
  const { id, organization_name, slug, admin_email, plan, region, status, progress, registered_at, updated_at } =
    detail;
  return { id, organization_name, slug, admin_email, plan, region, status, progress, registered_at, updated_at };
}

/** A lifecycle change as the admin routes ask for it; its rule is the tenant aggregate's (`checkLifecycleChange`). */
interface Transition {
  change: LifecycleChange;
  auditAction: 'tenant-suspended' | 'tenant-activated';
}

export const suspension: Transition = { change: 'suspend', auditAction: 'tenant-suspended' };
export const activation: Transition = { change: 'activate', auditAction: 'tenant-activated' };

export interface StatusChange {
  /** 200: the tenant is in the new status; 202: the command is accepted but not applied yet. */
  code: 200 | 202;
  tenant: TenantItem;
}

/**
 * Suspend or activate: check the directory against the tenant aggregate's rule, publish the command the provisioner carries
 * out (it also sets the Twenty workspace's activationStatus), and wait for the tenant's
 * event to come back through the directory. Already in the target status is a success
 * with nothing published. Every outcome is audited before the answer goes out.
 */
export async function changeTenantStatus(
  deps: GatewayDeps,
  tracker: OperationTracker,
  request: FastifyRequest,
  transition: Transition,
  tenantId: string,
  reason?: string,
): Promise<StatusChange> {
  const actor = adminActorOf(request);
  const audit = (outcome: 'success' | 'failure', detail: string | null) =>
    deps.audit.record(
      {
        actor,
        action: transition.auditAction,
        scope: tenantId,
        target: { kind: 'tenant', id: tenantId },
        outcome,
        detail: detail?.slice(0, 1000) ?? null,
      },
      request,
    );
  const because = reason === undefined ? '' : ` (reason: ${reason})`;
  const { from, to, verb } = LifecycleTransitions[transition.change];

  const entry = deps.directory.get(tenantId);
  const check = checkLifecycleChange(transition.change, entry?.status);
  if (check.outcome === 'refused') {
    if (!entry || check.code === 'not-found') {
      await audit('failure', 'no such tenant');
      throw new TenantNotFound(tenantId);
    }
    await audit('failure', `tenant is ${entry.status}${because}`);
    throw new TenantStateConflict(tenantId, entry.status, verb, from);
  }
  if (check.outcome === 'already') {
    await audit('success', `already ${to}; nothing to do${because}`);
    return { code: 200, tenant: await currentItem(deps, tenantId) };
  }

  // Watch before publishing, so the event cannot slip past between the two.
  const reached = tracker.awaitTenant(tenantId, (e) => e.status === to, STATUS_CHANGE_WAIT_MS);
  try {
    const command =
      transition.change === 'suspend'
        ? {
            subject: SuspendTenant.subject,
            message: encodeMessage(
              SuspendTenant,
              { tenantId, reason: reason ?? 'no reason given', actor },
              { source: SOURCE, subject: tenantId },
            ),
          }
        : {
            subject: ActivateTenant.subject,
            message: encodeMessage(ActivateTenant, { tenantId, actor }, { source: SOURCE, subject: tenantId }),
          };
    await publishMessage(deps.js, command.subject, command.message);
  } catch (error) {
    await audit('failure', `the command could not be published: ${(error as Error).message}${because}`).catch(
      () => undefined,
    );
    throw error;
  }
  const applied = await reached;
  await audit(
    'success',
    applied ? `${verb}${because}` : `accepted; not applied within ${STATUS_CHANGE_WAIT_MS} ms${because}`,
  );
  return { code: applied ? 200 : 202, tenant: await currentItem(deps, tenantId) };
}

async function currentItem(deps: GatewayDeps, tenantId: string): Promise<TenantItem> {
  const detail = await showTenant(deps, tenantId);
  if (!detail) throw new TenantNotFound(tenantId);
  return itemOf(detail);
}

/**
 * Retry a failed provisioning: the provisioner's tenant decider records where it resumes (the
 * failed step when the failure undid nothing, else the first step) and runs the saga again.
 * Answers at once; the tenant's provisioning operation runs again (poll `location`). Retrying a
 * tenant that is provisioning already publishes nothing. Audited.
 */
export async function retryTenantProvisioning(
  deps: GatewayDeps,
  request: FastifyRequest,
  tenantId: string,
): Promise<{ tenant: TenantItem; provisioningId: string }> {
  const actor = adminActorOf(request);
  const audit = (outcome: 'success' | 'failure', detail: string) =>
    deps.audit.record(
      {
        actor,
        action: 'tenant-provisioning-retried',
        scope: tenantId,
        target: { kind: 'tenant', id: tenantId },
        outcome,
        detail,
      },
      request,
    );
  const entry = deps.directory.get(tenantId);
  if (!entry) {
    await audit('failure', 'no such tenant');
    throw new TenantNotFound(tenantId);
  }
  if (entry.status !== 'failed' && entry.status !== 'provisioning' && entry.status !== 'pending') {
    await audit('failure', `tenant is ${entry.status}`);
    throw new TenantStateConflict(tenantId, entry.status, 'retried', 'failed');
  }
  if (entry.status === 'failed') {
    await publishMessage(
      deps.js,
      RetryProvisioning.subject,
      encodeMessage(RetryProvisioning, { tenantId, actor }, { source: SOURCE, subject: tenantId }),
    );
    await audit('success', `retried after: ${entry.error ?? 'unknown failure'}`.slice(0, 1000));
  } else {
    await audit('success', 'already provisioning; nothing to do');
  }
  return { tenant: await currentItem(deps, tenantId), provisioningId: entry.provisioningId };
}
