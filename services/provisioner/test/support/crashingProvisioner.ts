/**
 * A provisioner that kills itself (SIGKILL: no cleanup, no ack) right after the effect of
 * the step named by CRASH_AFTER_STEP, before that step's event is appended.
 */
import { startProvisioner } from '../../src/provisioner.js';

const crashAfter = process.env.CRASH_AFTER_STEP;
await startProvisioner(process.env, {
  afterStepEffect: (step) => {
    if (step === crashAfter) process.kill(process.pid, 'SIGKILL');
  },
});
