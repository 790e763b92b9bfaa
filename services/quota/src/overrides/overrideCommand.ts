import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeMessage, OverrideQuotas, QuotasOverridden, Subjects } from '@ttm/contracts';
import { type HandlerEntry, on, publishMessage } from '@ttm/service-kit';
import { SOURCE } from '../enforcement/enforcer.js';

/**
 * `ttm.quota.override.v1`: record the override as a `ttm.quota.overridden.v1` event on the
 * tenant's quota subject; the overrides projection applies it and the tenant is evaluated again.
 * Its id comes from the command's, so a redelivered command appends nothing new.
 */
export function overrideQuotasHandler(js: JetStreamClient): HandlerEntry {
  return on(OverrideQuotas, async (command) => {
    const data = command.data;
    const event = encodeMessage(
      QuotasOverridden,
      { tenantId: data.tenantId, limits: data.limits, actor: data.actor, overriddenAt: command.meta.time },
      { source: SOURCE, id: `overridden/${command.meta.id}`, subject: data.tenantId },
    );
    await publishMessage(js, Subjects.quotaEvents(data.tenantId), event);
  });
}
