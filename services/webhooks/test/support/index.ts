/**
 * What a test outside this service needs to drive it (`@ttm/webhooks/testing`): publish the
 * events it delivers, its test environment, and a receiver that records the deliveries.
 */
export { publishQuotaNotice, testWebhookEnv } from './events.js';
export { type Behaviour, payloadOf, type Received, Receiver } from './receiver.js';
