import { fileURLToPath } from 'node:url';
import { type ServiceContext, startService } from '@ttm/service-kit';
import { type QuotaConfig, quotaEnv } from './config.js';

export interface Quota {
  service: ServiceContext<QuotaConfig>;
  stop(): Promise<void>;
}

/** The quota service, started: `main.ts` runs it as a process, tests in-process. */
export async function startQuota(env: NodeJS.ProcessEnv, options: { handleSignals?: boolean } = {}): Promise<Quota> {
  const service = await startService(
    {
      name: 'quota',
      version: '0.1.0',
      description: 'Compares usage with plan limits and publishes enforcement state',
      env: quotaEnv,
      port: (config) => config.QUOTA_PORT,
      postgres: { schema: 'quota', migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) },
      ...(options.handleSignals === undefined ? {} : { handleSignals: options.handleSignals }),
    },
    env,
  );
  service.logger.info({ port: service.config.QUOTA_PORT }, 'quota ready');
  return { service, stop: () => service.lifecycle.stop('stop requested') };
}
