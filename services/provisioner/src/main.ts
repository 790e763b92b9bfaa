import { runMain } from '@ttm/service-kit';
import { startProvisioner } from './provisioner.js';

runMain(async () => {
  await startProvisioner(process.env);
});
