/** Fleet schema upgrades: `/api/admin/upgrades…`, answered by the provisioner over request-reply. */
export { askUpgrades, listUpgrades } from './client.js';
export { type UpgradeOperation, upgradeOperation } from './operation.js';
export { upgradeRoutes } from './routes.js';
