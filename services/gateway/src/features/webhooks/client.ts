import type { NatsConnection } from '@nats-io/transport-node';
import { WebhookQuerySubjects, WebhookReply, type WebhookRequest } from '@ttm/contracts';
import {
  WebhookBadRequest,
  WebhookNotFound,
  WebhooksUnavailable,
  WebhookTypeNotAllowed,
  WebhookUrlRejected,
} from './problems.js';

/** How long the gateway waits for the webhooks service (a registration resolves the receiver's host). */
export const WEBHOOKS_REQUEST_TIMEOUT_MS = 10_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Success = Extract<WebhookReply, { ok: true }>;
type ResultOf<Op extends Success['op']> = Success extends infer S
  ? S extends { op: Op; result: infer R }
    ? R
    : never
  : never;

/**
 * Ask the webhooks service (`query.webhooks.endpoints`); its refusals become problems. The
 * gateway never reads the webhooks schema.
 */
export async function askWebhooks<Op extends Success['op']>(
  nc: NatsConnection,
  request: WebhookRequest,
  expected: Op,
): Promise<ResultOf<Op>> {
  let raw: Uint8Array;
  try {
    const msg = await nc.request(WebhookQuerySubjects.endpoints, encoder.encode(JSON.stringify(request)), {
      timeout: WEBHOOKS_REQUEST_TIMEOUT_MS,
    });
    raw = msg.data;
  } catch (error) {
    throw new WebhooksUnavailable((error as Error).message);
  }
  const parsed = WebhookReply.safeParse(JSON.parse(decoder.decode(raw)));
  if (!parsed.success) throw new WebhooksUnavailable('its answer breaks the contract');
  const reply = parsed.data;
  if (!reply.ok) {
    const { code, message } = reply.error;
    if (code === 'url-rejected') throw new WebhookUrlRejected(message);
    if (code === 'type-not-allowed') throw new WebhookTypeNotAllowed(message);
    if (code === 'not-found') throw new WebhookNotFound(message);
    if (code === 'bad-request') throw new WebhookBadRequest(message);
    throw new WebhooksUnavailable(message);
  }
  if (reply.op !== expected) throw new WebhooksUnavailable(`it answered ${reply.op}, not ${expected}`);
  return reply.result as ResultOf<Op>;
}
