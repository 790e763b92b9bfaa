import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  issuesToFields,
  operatorOnlyWebhookTypes,
  WebhookQuerySubjects,
  type WebhookReply,
  WebhookRequest,
} from '@ttm/contracts';
import type { Logger } from '@ttm/service-kit';
import type { EndpointStore } from './store.js';
import { checkReceiverUrl, type UrlPolicy, UrlRejected } from './urlPolicy.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface EndpointRequestsOptions {
  nc: NatsConnection;
  store: EndpointStore;
  policy: UrlPolicy;
  /** Default overlap of a secret rotation. */
  secretOverlapMs: number;
  /** A new endpoint or a re-enabled one may have deliveries to make. */
  onChange: () => void;
  logger: Logger;
}

/**
 * Answer `query.webhooks.endpoints` for the gateway (queue group `webhooks`: each request is
 * answered by one instance). Scoping is enforced here as well as in the gateway: a tenant's
 * request only ever reads or changes that tenant's own endpoints.
 */
export function serveEndpointRequests(options: EndpointRequestsOptions): Subscription {
  return options.nc.subscribe(WebhookQuerySubjects.endpoints, {
    queue: 'webhooks',
    callback: (_error, msg) => {
      void answer(options, msg.data)
        .catch((error: unknown): WebhookReply => {
          options.logger.warn({ err: error }, 'webhook endpoint request failed');
          return { ok: false, error: { code: 'unavailable', message: 'webhooks are unavailable right now; retry' } };
        })
        .then((reply) => msg.respond(encoder.encode(JSON.stringify(reply))));
    },
  });
}

const notFound = (id: string): WebhookReply => ({
  ok: false,
  error: { code: 'not-found', message: `no webhook endpoint ${id} is visible to the caller` },
});

async function answer(options: EndpointRequestsOptions, data: Uint8Array): Promise<WebhookReply> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: { code: 'bad-request', message: 'the request body is not JSON' } };
  }
  const parsed = WebhookRequest.safeParse(json);
  if (!parsed.success) {
    const fields = issuesToFields(parsed.error).map((f) => `${f.path || '(root)'}: ${f.message}`);
    return { ok: false, error: { code: 'bad-request', message: fields.join('; ') } };
  }
  const request = parsed.data;
  const { store } = options;
  switch (request.op) {
    case 'create': {
      const { scope, endpoint } = request;
      if (scope.kind === 'tenant') {
        const refused = endpoint.eventTypes.filter((t) => operatorOnlyWebhookTypes.has(t));
        if (refused.length > 0) {
          return {
            ok: false,
            error: { code: 'type-not-allowed', message: `only operators may subscribe to ${refused.join(', ')}` },
          };
        }
        if (endpoint.tenantId != null && endpoint.tenantId !== scope.tenantId) {
          return {
            ok: false,
            error: {
              code: 'type-not-allowed',
              message: "a tenant may only subscribe to its own organization's events",
            },
          };
        }
      }
      let url: string;
      try {
        url = await checkReceiverUrl(endpoint.url, options.policy);
      } catch (error) {
        if (error instanceof UrlRejected) return { ok: false, error: { code: 'url-rejected', message: error.message } };
        throw error;
      }
      const created = await store.create({
        url,
        eventTypes: [...new Set(endpoint.eventTypes)],
        description: endpoint.description ?? null,
        tenantId: scope.kind === 'tenant' ? scope.tenantId : (endpoint.tenantId ?? null),
        owner: scope.kind,
      });
      options.onChange();
      return { ok: true, op: 'created', result: created };
    }
    case 'list':
      return { ok: true, op: 'endpoints', result: await store.list(request.scope) };
    case 'get': {
      const found = await store.get(request.scope, request.endpointId);
      return found ? { ok: true, op: 'endpoint', result: found } : notFound(request.endpointId);
    }
    case 'remove':
      return (await store.remove(request.scope, request.endpointId))
        ? { ok: true, op: 'removed', result: { endpointId: request.endpointId } }
        : notFound(request.endpointId);
    case 'enable': {
      const enabled = await store.enable(request.scope, request.endpointId);
      if (!enabled) return notFound(request.endpointId);
      options.onChange();
      return { ok: true, op: 'endpoint', result: enabled };
    }
    case 'rotate-secret': {
      const overlapMs = request.overlapSeconds === undefined ? options.secretOverlapMs : request.overlapSeconds * 1000;
      const rotated = await store.rotateSecret(request.scope, request.endpointId, overlapMs);
      return rotated ? { ok: true, op: 'rotated', result: rotated } : notFound(request.endpointId);
    }
    case 'deliveries': {
      const found = await store.deliveries(request.scope, request.endpointId, {
        limit: request.limit ?? 50,
        before: request.before,
      });
      return found ? { ok: true, op: 'deliveries', result: found } : notFound(request.endpointId);
    }
    case 'redeliver': {
      const found = await store.redeliver(request.scope, request.endpointId, request.deliveryId);
      if (!found) {
        return {
          ok: false,
          error: { code: 'not-found', message: `no delivery ${request.deliveryId} of endpoint ${request.endpointId}` },
        };
      }
      options.onChange();
      return { ok: true, op: 'delivery', result: found };
    }
  }
}
