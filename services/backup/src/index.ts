/**
 * The backup service's public face, for what runs it or measures it from outside
 * (the test stack, benchmarks): start the service, take a snapshot, a store on disk, its tenants projection.
 */

export { takeSnapshot } from './artifact/snapshot.js';
export { type Backup, type BackupOptions, startBackup } from './backup.js';
export { tenantsProjection as backupTenantsProjection } from './projections/tenants.js';
export { BACKUP_SCHEMA } from './shared/index.js';
export { FileBackupStore } from './store/index.js';
