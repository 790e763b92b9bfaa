import { runMain } from '@ttm/service-kit';
import { startQuota } from './quota.js';

runMain(async () => {
  await startQuota(process.env);
});
