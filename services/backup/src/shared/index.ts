/**
 * What the backup and migration modules of this service both use, and nothing else: the
 * tenant write freezes, the tenant as its events tell it, the service's database schema.
 */
export { BACKUP_SCHEMA } from './schema.js';
export { readTenantInfo, readTenantInfoAt, type TenantInfo, tenantInfoOf } from './tenantInfo.js';
export { type FreezeEntry, WriteFreezes } from './writeFreezes.js';
