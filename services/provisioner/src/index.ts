/**
 * The provisioner's public face, for what runs it from outside (the test stack, benchmarks): start
 * the service; the fleet upgrade's wave rule, so tests know which tenant is the canary; its
 * placements projection.
 */
export { type Provisioner, startProvisioner } from './provisioner.js';
export { placementsProjection } from './tenant/placementsProjection.js';
export { assignWaves } from './upgrades/index.js';
