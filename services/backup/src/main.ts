import { fileURLToPath } from 'node:url';
import { runMain, startService } from '@ttm/service-kit';
import { backupEnv } from './config.js';

runMain(async () => {
  const service = await startService({
    name: 'backup',
    version: '0.1.0',
    description: 'Backs up, verifies, restores and migrates tenant workspaces',
    env: backupEnv,
    port: (config) => config.BACKUP_PORT,
    postgres: { schema: 'backup', migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) },
  });
  service.logger.info({ port: service.config.BACKUP_PORT }, 'backup ready');
});
