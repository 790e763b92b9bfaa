import { runMain } from '@ttm/service-kit';
import { startGateway } from './gateway.js';

runMain(async () => {
  await startGateway(process.env);
});
