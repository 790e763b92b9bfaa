import { createProblem } from '../../problems.js';

const base = 'https://ttm.dev/problems';

export const WebhookUrlRejected = createProblem<[reason: string]>({
  code: 'TTM_WEBHOOK_URL_REJECTED',
  status: 400,
  type: `${base}/webhook-url-rejected`,
  title: 'Webhook URL rejected',
  detail: '%s',
});

export const WebhookTypeNotAllowed = createProblem<[reason: string]>({
  code: 'TTM_WEBHOOK_TYPE_NOT_ALLOWED',
  status: 403,
  type: `${base}/webhook-type-not-allowed`,
  title: 'Webhook subscription not allowed',
  detail: '%s',
});

export const WebhookNotFound = createProblem<[reason: string]>({
  code: 'TTM_WEBHOOK_NOT_FOUND',
  status: 404,
  type: `${base}/webhook-not-found`,
  title: 'Webhook endpoint not found',
  detail: '%s',
});

export const WebhookBadRequest = createProblem<[reason: string]>({
  code: 'TTM_WEBHOOK_BAD_REQUEST',
  status: 400,
  type: `${base}/bad-request`,
  title: 'Bad request',
  detail: '%s',
});

export const WebhooksUnavailable = createProblem<[reason: string]>({
  code: 'TTM_WEBHOOKS_UNAVAILABLE',
  status: 503,
  type: `${base}/webhooks-unavailable`,
  title: 'Webhooks unavailable',
  detail: 'the webhooks service did not answer (%s): retry',
});

export const AlertPublishFailed = createProblem<[reason: string]>({
  code: 'TTM_ALERT_PUBLISH_FAILED',
  status: 503,
  type: `${base}/alert-publish-failed`,
  title: 'Alerts not recorded',
  detail: 'the alerts could not be published (%s); Alertmanager will send them again',
});

export const AlertmanagerUnauthorized = createProblem({
  code: 'TTM_ALERTMANAGER_UNAUTHORIZED',
  status: 401,
  type: `${base}/unauthorized`,
  title: 'Unauthorized',
  detail: 'send the operator key as Authorization: Bearer <SUPER_ADMIN_KEY> or X-Admin-Key',
});
