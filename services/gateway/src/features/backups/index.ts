/** Backups, verifications and restores under `/api/admin`, answered from the backup index. */

export { startUnarchive, unarchiveIdOf } from './archive.js';
export { BackupIndex } from './backupIndex.js';
export { idleTenantRoutes } from './idleTenants.js';
export { backupRoutes, UNKNOWN_BACKUP_GRACE_MS } from './routes.js';
export { AcceptedOperation, BackupDetail, BackupItem } from './schemas.js';
export { type BackupOperation, type BackupView, backupViewOf, operationOf } from './view.js';
