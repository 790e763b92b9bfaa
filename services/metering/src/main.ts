import { runMain } from '@ttm/service-kit';
import { startMetering } from './metering.js';

runMain(async () => {
  await startMetering(process.env);
});
