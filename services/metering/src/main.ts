import { fileURLToPath } from 'node:url';
import { runMain, startService } from '@ttm/service-kit';
import { meteringEnv } from './config.js';

runMain(async () => {
  const service = await startService({
    name: 'metering',
    version: '0.1.0',
    description: 'Counts usage per tenant and closes billing windows exactly once',
    env: meteringEnv,
    port: (config) => config.METERING_PORT,
    postgres: { schema: 'metering', migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) },
  });
  service.logger.info({ port: service.config.METERING_PORT }, 'metering ready');
});
