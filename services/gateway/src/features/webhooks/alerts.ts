import { createHash, timingSafeEqual } from 'node:crypto';
import {
  AlertFiring,
  type AlertmanagerAlert,
  AlertmanagerWebhook,
  AlertResolved,
  ContractViolation,
  encodeMessage,
  Subjects,
  TenantId,
} from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { securitySchemes } from '../../plugins/openapi.js';
import { problemJsonSchema } from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { AlertmanagerUnauthorized, AlertPublishFailed, WebhookBadRequest } from './problems.js';

export const ALERTMANAGER_WEBHOOK_PATH = '/api/admin/alertmanager/webhook';

const Accepted = z.object({ published: z.number().int().nonnegative(), duplicates: z.number().int().nonnegative() });

/**
 * The ce-id of one alert notice: Alertmanager repeats a firing alert every repeat interval and
 * after restarts, always with the same fingerprint and start, so the same alert state is one event
 * (JetStream drops the copy inside its duplicate window; the webhooks service's unique
 * (endpoint, event) keeps a later copy from being delivered again).
 */
export function alertEventId(alert: AlertmanagerAlert): string {
  const digest = createHash('sha256')
    .update(`${alert.fingerprint}/${alert.status}/${alert.startsAt}`)
    .digest('hex')
    .slice(0, 32);
  return `alert-${digest}`;
}

function tenantOf(labels: Record<string, string>): string | null {
  const candidate = labels.tenant_id ?? labels.tenantId;
  return candidate !== undefined && TenantId.safeParse(candidate).success ? candidate : null;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** `Authorization: Bearer <key>` (what Alertmanager's http_config sends) or `X-Admin-Key`. */
function authorized(request: FastifyRequest, expected: Buffer): boolean {
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1];
  const header = request.headers['x-admin-key'];
  const given = bearer ?? (typeof header === 'string' ? header : undefined);
  return given !== undefined && given.length > 0 && timingSafeEqual(digest(given), expected);
}

/**
 * `POST /api/admin/alertmanager/webhook`: Alertmanager's webhook receiver. Each alert becomes
 * `ttm.alert.firing.v1` or `ttm.alert.resolved.v1` on `evt.alert.<fingerprint>`, which the
 * webhooks service delivers to operator endpoints.
 */
export const alertmanagerRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  const expected = digest(deps.config.SUPER_ADMIN_KEY);
  app.addHook('onRequest', async (request) => {
    if (!authorized(request, expected)) throw new AlertmanagerUnauthorized();
  });
  app.post<{ Body: AlertmanagerWebhook }>(
    ALERTMANAGER_WEBHOOK_PATH,
    {
      schema: {
        summary: "Alertmanager's webhook receiver: alerts become events that webhooks deliver",
        description:
          'Body: the Alertmanager webhook JSON (version 4). Authorized with `Authorization: Bearer <SUPER_ADMIN_KEY>` ' +
          '(Alertmanager http_config) or X-Admin-Key. One event per alert fingerprint, status and start.',
        tags: ['admin', 'webhooks'],
        security: [{ [securitySchemes.adminKey]: [] }],
        body: zodSchema(AlertmanagerWebhook),
        response: {
          200: zodSchema(Accepted, { io: 'output' }),
          400: { ...problemJsonSchema, description: 'Not an Alertmanager version 4 body' },
          401: { ...problemJsonSchema, description: 'The operator key is missing or wrong' },
          503: { ...problemJsonSchema, description: 'The events could not be published; Alertmanager retries' },
        },
      },
    },
    async (request) => {
      let published = 0;
      let duplicates = 0;
      for (const alert of request.body.alerts) {
        const common = {
          fingerprint: alert.fingerprint,
          alertname: alert.labels.alertname ?? 'unnamed',
          tenantId: tenantOf(alert.labels),
          labels: alert.labels,
          annotations: alert.annotations,
          startsAt: alert.startsAt,
          ...(alert.generatorURL ? { generatorURL: alert.generatorURL } : {}),
        };
        const options = { source: '/ttm/gateway', id: alertEventId(alert), subject: alert.fingerprint };
        try {
          const message =
            alert.status === 'firing'
              ? encodeMessage(AlertFiring, common, options)
              : encodeMessage(AlertResolved, { ...common, endsAt: alert.endsAt ?? new Date().toISOString() }, options);
          const ack = await publishMessage(deps.js, Subjects.alertEvents(alert.fingerprint), message);
          if (ack.duplicate) duplicates++;
          else published++;
        } catch (error) {
          if (error instanceof ContractViolation) throw new WebhookBadRequest(error.message);
          request.log.warn({ err: error, fingerprint: alert.fingerprint }, 'publishing an alert failed');
          throw new AlertPublishFailed((error as Error).message);
        }
      }
      return { published, duplicates };
    },
  );
};
