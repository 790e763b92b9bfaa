import { fileURLToPath } from 'node:url';
import { runMain, startService } from '@ttm/service-kit';
import { quotaEnv } from './config.js';

runMain(async () => {
  const service = await startService({
    name: 'quota',
    version: '0.1.0',
    description: 'Compares usage with plan limits and publishes enforcement state',
    env: quotaEnv,
    port: (config) => config.QUOTA_PORT,
    postgres: { schema: 'quota', migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) },
  });
  service.logger.info({ port: service.config.QUOTA_PORT }, 'quota ready');
});
