import type { JetStreamClient } from '@nats-io/jetstream';
import { Subjects, TenantEvents, tenantEvents } from '@ttm/contracts';
import type { Placement } from '@ttm/data-plane';
import { knownMessage, readAggregate, type StoredEvent } from '@ttm/service-kit';

/** What the backup service needs to know of a tenant, read from its events when a command comes. */
export interface TenantInfo {
  tenantId: string;
  status: 'provisioning' | 'active' | 'suspended' | 'failed' | 'archived';
  plan: string;
  placement: Placement | undefined;
  /** While archived: the archive and its verified backup. */
  archive?: { archiveId: string; backupId: string };
  /** The restore that last brought the tenant back from an archive. */
  unarchivedBy?: string;
}

/** Fold a tenant's events (`evt.tenant.<id>`); undefined if it never registered. Pure. */
export function tenantInfoOf(events: readonly Pick<StoredEvent, 'type' | 'data'>[]): TenantInfo | undefined {
  let info: TenantInfo | undefined;
  for (const event of events) {
    const known = knownMessage(event, tenantEvents);
    switch (known?.type) {
      case TenantEvents.registered.type: {
        const e = known.data;
        info = { tenantId: e.tenantId, status: 'provisioning', plan: e.plan, placement: undefined };
        break;
      }
      case TenantEvents.provisioningStepCompleted.type: {
        const e = known.data;
        if (info && e.placement) info.placement = e.placement;
        break;
      }
      case TenantEvents.provisioned.type:
        if (info) {
          info.status = 'active';
          info.placement = known.data.placement;
        }
        break;
      case TenantEvents.provisioningFailed.type:
        if (info) info.status = 'failed';
        break;
      case TenantEvents.provisioningRetried.type:
        if (info) info.status = 'provisioning';
        break;
      case TenantEvents.suspended.type:
        if (info) info.status = 'suspended';
        break;
      case TenantEvents.activated.type:
        if (info) info.status = 'active';
        break;
      case TenantEvents.placementChanged.type:
        if (info) info.placement = known.data.to;
        break;
      case TenantEvents.archived.type:
        if (info) {
          info.status = 'archived';
          info.archive = { archiveId: known.data.archiveId, backupId: known.data.backupId };
        }
        break;
      case TenantEvents.unarchived.type:
        if (info) {
          info.status = 'active';
          delete info.archive;
          info.unarchivedBy = known.data.restoreId;
        }
        break;
    }
  }
  return info;
}

export async function readTenantInfo(js: JetStreamClient, tenantId: string): Promise<TenantInfo | undefined> {
  const { events } = await readAggregate(js, Subjects.tenantEvents(tenantId));
  return tenantInfoOf(events);
}

/** The tenant and the stream sequence of its last event (to append after it). */
export async function readTenantInfoAt(
  js: JetStreamClient,
  tenantId: string,
): Promise<{ info: TenantInfo | undefined; lastSeq: number; events: StoredEvent[] }> {
  const { events, lastSeq } = await readAggregate(js, Subjects.tenantEvents(tenantId));
  return { info: tenantInfoOf(events), lastSeq, events };
}
