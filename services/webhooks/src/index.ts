/** The webhooks service's public face, for what runs it from outside (tests): start the service. */
export { startWebhooks, type Webhooks } from './webhooks.js';
