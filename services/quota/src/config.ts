import { commonEnv, portEnv, servicePorts } from '@ttm/service-kit';
import type { z } from 'zod';

export const quotaEnv = commonEnv.extend({
  QUOTA_PORT: portEnv.port(servicePorts.quota).describe('HTTP port of the quota health and metrics endpoints'),
});
export type QuotaConfig = z.output<typeof quotaEnv>;
