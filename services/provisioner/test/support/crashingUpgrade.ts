/**
 * A provisioner that runs fleet upgrades and kills itself (SIGKILL: no cleanup) right after
 * the CRASH_AFTER_TENANTS-th tenant's change, before that tenant's status is recorded.
 */
import { startProvisioner } from '../../src/provisioner.js';

const crashAfter = Number(process.env.CRASH_AFTER_TENANTS ?? '1');
let done = 0;
await startProvisioner(process.env, {
  afterTenantUpgrade: () => {
    done++;
    if (done >= crashAfter) process.kill(process.pid, 'SIGKILL');
  },
});
