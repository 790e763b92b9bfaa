/**
 * A metering service that kills itself (SIGKILL: no cleanup, no ack) right after the
 * CRASH_AFTER_BATCHES-th batch committed, before any of that batch's messages is acknowledged.
 * Without CRASH_AFTER_BATCHES it runs until the test kills it.
 */
import { startMetering } from '../../src/metering.js';

const crashAfter = Number(process.env.CRASH_AFTER_BATCHES ?? 0);
let committed = 0;
await startMetering(process.env, {
  afterCommit: () => {
    committed++;
    if (crashAfter > 0 && committed >= crashAfter) process.kill(process.pid, 'SIGKILL');
  },
});
