/**
 * The quota service's public face, for what runs it from outside (the test stack, benchmarks): start
 * the service; its settlement projection and the book it reads limits from.
 */

export { QuotaBook } from './enforcement/quotaBook.js';
export { QUOTA_SCHEMA } from './overrides/projection.js';
export { type Quota, type QuotaOptions, startQuota } from './quota.js';
export { settlementProjection } from './settlement/projection.js';
