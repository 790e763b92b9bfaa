import { TenantEvents, tenantEvents } from '@ttm/contracts';
import { knownMessage, type StoredEvent } from '@ttm/service-kit';
import type { ProvisioningSummary, TenantDetail, TenantItem } from './schemas.js';

export type TenantHistory = Omit<TenantDetail, 'quotas'>;

/**
 * A tenant as its events tell it: the record, its provisioning and its timeline, folded
 * from the stream (the source of truth) in order. Pure. Undefined if the events do not
 * begin with a registration.
 */
export function tenantFromEvents(events: readonly StoredEvent[]): TenantHistory | undefined {
  const [first] = events;
  const registration = first && knownMessage(first, [TenantEvents.registered]);
  if (!first || !registration) return undefined;
  const registered = registration.data;
  const item: TenantItem = {
    id: registered.tenantId,
    organization_name: registered.organizationName,
    slug: null,
    admin_email: registered.adminEmail,
    plan: registered.plan,
    region: registered.region,
    status: 'pending',
    progress: 0,
    registered_at: registered.registeredAt,
    updated_at: first.meta.time,
  };
  let placement: TenantDetail['placement'] = null;
  let suspendedReason: string | null = null;
  const provisioning: ProvisioningSummary = {
    id: registered.provisioningId,
    status: 'pending',
    progress: 0,
    step: null,
    error: null,
    started_at: registered.registeredAt,
    finished_at: null,
    duration_ms: null,
  };

  for (const event of events.slice(1)) {
    item.updated_at = event.meta.time;
    const known = knownMessage(event, tenantEvents);
    switch (known?.type) {
      case TenantEvents.provisioningStepCompleted.type: {
        const e = known.data;
        if (item.status === 'pending') item.status = 'provisioning';
        provisioning.status = 'running';
        provisioning.progress = Math.max(provisioning.progress, e.progress);
        provisioning.step = e.step;
        if (e.slug) item.slug = e.slug;
        if (e.placement) placement = e.placement;
        break;
      }
      case TenantEvents.provisioned.type: {
        const e = known.data;
        item.status = 'active';
        item.slug = e.slug;
        placement = e.placement;
        Object.assign(provisioning, {
          status: 'succeeded',
          progress: 100,
          step: 'activate',
          finished_at: e.provisionedAt,
          duration_ms: e.durationMs,
        });
        break;
      }
      case TenantEvents.provisioningFailed.type: {
        const e = known.data;
        item.status = 'failed';
        Object.assign(provisioning, {
          status: 'failed',
          step: e.step,
          error: e.reason,
          finished_at: e.failedAt,
          duration_ms: Math.max(0, Date.parse(e.failedAt) - Date.parse(registered.registeredAt)),
        });
        break;
      }
      case TenantEvents.provisioningRetried.type: {
        const e = known.data;
        item.status = 'provisioning';
        Object.assign(provisioning, { status: 'running', step: e.resumeAt, error: null, finished_at: null });
        break;
      }
      case TenantEvents.suspended.type:
        item.status = 'suspended';
        suspendedReason = known.data.reason;
        break;
      case TenantEvents.activated.type:
        item.status = 'active';
        suspendedReason = null;
        break;
      case TenantEvents.archived.type:
        item.status = 'archived';
        break;
      case TenantEvents.unarchived.type:
        item.status = 'active';
        break;
      case TenantEvents.placementChanged.type: {
        // A migration moved the workspace.
        const e = known.data;
        placement = e.to;
        item.region = e.to.region;
        break;
      }
    }
  }
  item.progress = provisioning.progress;

  return {
    ...item,
    placement,
    suspended_reason: suspendedReason,
    provisioning,
    timeline: events.map((e) => ({
      seq: e.seq,
      type: e.type,
      time: e.meta.time,
      data: e.data as Record<string, unknown>,
    })),
  };
}
