import { fileURLToPath } from 'node:url';
import { type ServiceContext, startService } from '@ttm/service-kit';
import { type BackupConfig, backupEnv } from './config.js';

export interface Backup {
  service: ServiceContext<BackupConfig>;
  stop(): Promise<void>;
}

/** The backup service, started: `main.ts` runs it as a process, tests in-process. */
export async function startBackup(env: NodeJS.ProcessEnv, options: { handleSignals?: boolean } = {}): Promise<Backup> {
  const service = await startService(
    {
      name: 'backup',
      version: '0.1.0',
      description: 'Backs up, verifies, restores and migrates tenant workspaces',
      env: backupEnv,
      port: (config) => config.BACKUP_PORT,
      postgres: { schema: 'backup', migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) },
      ...(options.handleSignals === undefined ? {} : { handleSignals: options.handleSignals }),
    },
    env,
  );
  service.logger.info({ port: service.config.BACKUP_PORT }, 'backup ready');
  return { service, stop: () => service.lifecycle.stop('stop requested') };
}
