export { ALERTMANAGER_WEBHOOK_PATH, alertEventId, alertmanagerRoutes } from './alerts.js';
export { adminWebhookRoutes, tenantWebhookRoutes } from './routes.js';
