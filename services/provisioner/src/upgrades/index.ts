export * from './driftGauge.js';
export * from './fleetUpgrade.js';
export * from './plan.js';
export * from './requests.js';
export * from './scheduler.js';
export * from './upgradeTenant.js';
