import { BackupFailed } from '../backup/events.js';
import { QuotaExceeded, QuotaWarning } from '../quota/events.js';
import { ProvisioningFailed, TenantActivated, TenantSuspended } from '../tenant/events.js';
import { WindowClosed } from '../usage/events.js';
import { AlertFiring, AlertResolved, WebhookEndpointDisabled } from './events.js';
import type { WebhookEventType } from './fields.js';

/** Which internal event (`ce-type`) is delivered to webhook receivers as which public type. */
export const webhookTypeOf: Readonly<Record<string, WebhookEventType>> = {
  [QuotaWarning.type]: 'quota.warning',
  [QuotaExceeded.type]: 'quota.exceeded',
  [TenantSuspended.type]: 'tenant.suspended',
  [TenantActivated.type]: 'tenant.activated',
  [ProvisioningFailed.type]: 'tenant.provisioning-failed',
  [BackupFailed.type]: 'backup.failed',
  [WindowClosed.type]: 'billing.window-closed',
  [AlertFiring.type]: 'alert.firing',
  [AlertResolved.type]: 'alert.resolved',
  [WebhookEndpointDisabled.type]: 'webhook.endpoint-disabled',
};

/** The tenant a deliverable event is about (null: the fleet), from its validated data. */
export function webhookTenantOf(data: unknown): string | null {
  if (typeof data === 'object' && data !== null && 'tenantId' in data) {
    const { tenantId } = data;
    return typeof tenantId === 'string' ? tenantId : null;
  }
  return null;
}
