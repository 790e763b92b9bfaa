import { runMain } from '@ttm/service-kit';
import { startWebhooks } from './webhooks.js';

runMain(async () => {
  await startWebhooks(process.env);
});
