/** The service's schema in the control-plane database: backups, restores and migrations keep their read models there. */
export const BACKUP_SCHEMA = 'backup';
