import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeMessage, QuotaExceeded, QuotaWarning, Subjects } from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';

/**
 * Publish a quota notice as the quota service would (tests of webhooks only need the event in
 * EVENTS; its id is returned so deliveries can be matched to it).
 */
export async function publishQuotaNotice(
  js: JetStreamClient,
  tenantId: string,
  kind: 'warning' | 'exceeded',
  id: string = randomUUID(),
  used = 90,
): Promise<string> {
  const crossing = {
    tenantId,
    meter: 'api_calls' as const,
    window: '2026-12-01T00:00:00.000Z',
    used,
    limit: 100,
    at: new Date().toISOString(),
  };
  const message =
    kind === 'warning'
      ? encodeMessage(QuotaWarning, { ...crossing, thresholdPercent: 80 }, { source: '/ttm/quota', id })
      : encodeMessage(QuotaExceeded, { ...crossing, used: Math.max(used, 100) }, { source: '/ttm/quota', id });
  await publishMessage(js, Subjects.quotaEvents(tenantId), message);
  return id;
}

/**
 * The webhooks service's environment in tests: loopback receivers allowed, short retries. The
 * timeout is far longer than a normal delivery takes, so a hanging receiver is told apart.
 */
export const testWebhookEnv = {
  WEBHOOKS_PORT: '0',
  NODE_ENV: 'test',
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_RETRY_SCHEDULE: '100ms,200ms,300ms,400ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms,500ms',
  WEBHOOK_TIMEOUT: '4s',
  WEBHOOK_POLL_INTERVAL: '50ms',
};
