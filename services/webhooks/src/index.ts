/** The webhooks service's public face, for what runs it from outside (tests, benchmarks): start the service; its fan-out projection. */

export { WEBHOOKS_SCHEMA } from './endpoints/store.js';
export { eventsFanOut } from './fanout/projection.js';
export { startWebhooks, type Webhooks } from './webhooks.js';
