import { randomUUID } from 'node:crypto';
import {
  CloudEventHeaders,
  encodeMessage,
  OverrideQuotas,
  type QuotaLimitOverrides,
  type QuotaLimits,
  QuotaNames,
  Subjects,
} from '@ttm/contracts';
import { pause, publishMessage } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { adminActorOf } from '../../plugins/adminAuth.js';
import { TenantNotFound, TenantStateConflict } from '../tenants/problems.js';
import { EmptyQuotaOverride } from './problems.js';
import type { QuotaReader } from './quotaReader.js';
import type { QuotaOverrideResult } from './schemas.js';

/** How long `PUT …/quotas` waits for the quota service to record and enforce the override before a 202. */
export const QUOTA_OVERRIDE_WAIT_MS = 5_000;

const SOURCE = '/ttm/gateway';

/**
 * `PUT /api/admin/tenants/{id}/quotas`: publish `cmd.quota.override`, wait for its
 * `ttm.quota.overridden.v1` (whose ce-id the quota service derives from the command's) and then
 * for the enforcement state to carry the new limits, so a 200 means "in force". Audited.
 */
export async function overrideQuotas(
  deps: GatewayDeps,
  reader: QuotaReader,
  request: FastifyRequest,
  tenantId: string,
  body: QuotaLimitOverrides,
  waitMs = QUOTA_OVERRIDE_WAIT_MS,
): Promise<QuotaOverrideResult> {
  const actor = adminActorOf(request);
  const limits: QuotaLimitOverrides = {};
  for (const name of QuotaNames) if (body[name] !== undefined) limits[name] = body[name];
  const described = QuotaNames.filter((n) => limits[n] !== undefined)
    .map((n) => `${n}=${limits[n] === null ? 'plan' : limits[n]}`)
    .join(', ');
  const audit = (outcome: 'success' | 'failure', detail: string) =>
    deps.audit.record(
      {
        actor,
        action: 'quota-overridden',
        scope: tenantId,
        target: { kind: 'tenant', id: tenantId },
        outcome,
        detail: detail.slice(0, 1000),
      },
      request,
    );

  const entry = deps.directory.get(tenantId);
  if (!entry) {
    await audit('failure', 'no such tenant');
    throw new TenantNotFound(tenantId);
  }
  if (described === '') throw new EmptyQuotaOverride();
  if (entry.status === 'failed') {
    await audit('failure', 'tenant is failed');
    throw new TenantStateConflict(
      tenantId,
      entry.status,
      'given quotas',
      'registered, provisioning, active or suspended',
    );
  }

  const deadline = Date.now() + waitMs;
  const commandId = randomUUID();
  // Listen before publishing, so the event cannot slip past between the two.
  const recorded = awaitEvent(deps, Subjects.quotaEvents(tenantId), `overridden/${commandId}`, waitMs);
  try {
    await publishMessage(
      deps.js,
      OverrideQuotas.subject,
      encodeMessage(OverrideQuotas, { tenantId, limits, actor }, { source: SOURCE, id: commandId, subject: tenantId }),
    );
  } catch (error) {
    recorded.cancel();
    await audit('failure', `the command could not be published: ${(error as Error).message}`).catch(() => undefined);
    throw error;
  }

  let applied = await recorded.promise;
  const effective = await reader.effectiveLimits(tenantId, entry.plan);
  if (applied && effective) applied = await untilEnforced(reader, tenantId, effective.limits, deadline);
  await audit('success', applied ? described : `${described} (accepted; not in force within ${waitMs} ms)`);
  return {
    tenant_id: tenantId,
    plan: entry.plan,
    limits: effective?.limits ?? null,
    overrides: effective?.overrides ?? {},
    applied,
  };
}

/** Resolves true once a message with this ce-id is published on `subject`, false after `timeoutMs`. */
function awaitEvent(
  deps: Pick<GatewayDeps, 'nc'>,
  subject: string,
  eventId: string,
  timeoutMs: number,
): { promise: Promise<boolean>; cancel(): void } {
  let settle: (seen: boolean) => void = () => undefined;
  const promise = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  const timer = setTimeout(() => finish(false), timeoutMs);
  const subscription = deps.nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error) finish(false);
      else if (msg.headers?.get(CloudEventHeaders.id) === eventId) finish(true);
    },
  });
  function finish(seen: boolean) {
    clearTimeout(timer);
    subscription.unsubscribe();
    settle(seen);
  }
  return { promise, cancel: () => finish(false) };
}

/** Poll the enforcement state until its limits are `limits` (or the deadline passes). */
async function untilEnforced(
  reader: QuotaReader,
  tenantId: string,
  limits: QuotaLimits,
  deadline: number,
): Promise<boolean> {
  for (;;) {
    const state = await reader.enforcementState(tenantId);
    if (
      state &&
      state.storage_bytes.limit === limits.storage_bytes &&
      state.users.limit === limits.users &&
      state.api_calls.limit === limits.api_calls_per_month
    ) {
      return true;
    }
    if (Date.now() >= deadline) return false;
    await pause(Math.min(50, Math.max(1, deadline - Date.now())));
  }
}
