import { fileURLToPath } from 'node:url';
import { type ServiceContext, startService } from '@ttm/service-kit';
import { type MeteringConfig, meteringEnv } from './config.js';

export interface Metering {
  service: ServiceContext<MeteringConfig>;
  stop(): Promise<void>;
}

/** The metering service, started: `main.ts` runs it as a process, tests in-process. */
export async function startMetering(
  env: NodeJS.ProcessEnv,
  options: { handleSignals?: boolean } = {},
): Promise<Metering> {
  const service = await startService(
    {
      name: 'metering',
      version: '0.1.0',
      description: 'Counts usage per tenant and closes billing windows exactly once',
      env: meteringEnv,
      port: (config) => config.METERING_PORT,
      postgres: { schema: 'metering', migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) },
      ...(options.handleSignals === undefined ? {} : { handleSignals: options.handleSignals }),
    },
    env,
  );
  service.logger.info({ port: service.config.METERING_PORT }, 'metering ready');
  return { service, stop: () => service.lifecycle.stop('stop requested') };
}
