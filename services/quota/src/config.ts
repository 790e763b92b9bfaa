import { commonEnv, portEnv, quotaWarningEnv, servicePorts } from '@ttm/service-kit';
import type { z } from 'zod';

const { duration } = portEnv;

export const quotaEnv = commonEnv.extend({
  QUOTA_PORT: portEnv.port(servicePorts.quota).describe('HTTP port of the quota health and metrics endpoints'),
  ...quotaWarningEnv,
  QUOTA_EVALUATE_DELAY: duration('50ms').describe(
    'Least time between two evaluation rounds while usage keeps changing (changes in between are gathered)',
  ),
  QUOTA_STATE_REFRESH: duration('1s').describe(
    'Least time between two enforcement-state writes of a tenant whose level did not change (used only)',
  ),
  QUOTA_RECONCILE_INTERVAL: duration('1m').describe(
    'How often every tenant is evaluated again (month rollover) and unsent notices are retried',
  ),
});
export type QuotaConfig = z.output<typeof quotaEnv>;
