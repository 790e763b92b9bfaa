/**
 * The backup service's public face, for what runs it or measures it from outside
 * (the test stack, benchmarks): start the service, take a snapshot, a store on disk.
 */

export { takeSnapshot } from './artifact/snapshot.js';
export { type Backup, type BackupOptions, startBackup } from './backup.js';
export { FileBackupStore } from './store/index.js';
