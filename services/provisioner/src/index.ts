/**
 * The provisioner's public face, for what runs it from outside (the test stack): start the
 * service; and the fleet upgrade's wave rule, so tests know which tenant is the canary.
 */
export { type Provisioner, startProvisioner } from './provisioner.js';
export { assignWaves } from './upgrades/index.js';
