import { runMain } from '@ttm/service-kit';
import { startBackup } from './backup.js';

runMain(async () => {
  await startBackup(process.env);
});
