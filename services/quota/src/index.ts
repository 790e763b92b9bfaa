/** The quota service's public face, for what runs it from outside (the test stack): start the service. */
export { type Quota, type QuotaOptions, startQuota } from './quota.js';
