/** Quotas and usage: what the gateway reads about them, and the tenant and admin routes. */
export { QuotaReader } from './quotaReader.js';
export { adminQuotaRoutes, tenantQuotaRoutes } from './routes.js';
export { QuotaOverrideResult, QuotaReport, UsageReport } from './schemas.js';
