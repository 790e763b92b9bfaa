import { commonEnv, portEnv, servicePorts } from '@ttm/service-kit';
import type { z } from 'zod';

export const backupEnv = commonEnv.extend({
  BACKUP_PORT: portEnv.port(servicePorts.backup).describe('HTTP port of the backup health and metrics endpoints'),
});
export type BackupConfig = z.output<typeof backupEnv>;
