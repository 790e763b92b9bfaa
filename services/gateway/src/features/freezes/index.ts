/** Tenant write freezes (`ttm-write-freeze`), in memory; the `writeFreeze` plugin refuses writes with them. */
export { TenantWritesFrozen } from './problems.js';
export { type FreezeEntry, FreezeWatcher } from './watcher.js';
