/**
 * Tenants: the registration of an organization, the live tenant directory and its projection,
 * and the operators' tenant routes (list, detail, suspend, activate).
 */
export { tenantAdminRoutes } from './adminRoutes.js';
export { type DirectoryEntry, TenantDirectory, type TenantStatus } from './directory.js';
export { InvalidCursor, TenantNotFound, TenantStateConflict } from './problems.js';
export { GATEWAY_SCHEMA, tenantsProjection } from './projection.js';
export { provisioningStatusPath, registrationPath, registrationRoutes } from './registration.js';
export { TenantDetail, TenantItem, TenantParams } from './schemas.js';
export { tenantBySlug } from './tenantRef.js';
