/** The provisioner's public face, for what runs it from outside (the test stack): start the service. */
export { type Provisioner, startProvisioner } from './provisioner.js';
