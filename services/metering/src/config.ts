import { catalogEnv, commonEnv, dataPlaneBudgetEnv, portEnv, servicePorts } from '@ttm/service-kit';
import { z } from 'zod';

const { duration } = portEnv;

export const meteringEnv = commonEnv.extend({
  ...catalogEnv,
  ...dataPlaneBudgetEnv,
  METERING_PORT: portEnv.port(servicePorts.metering).describe('HTTP port of the metering health and metrics endpoints'),
  METERING_BATCH_SIZE: z.coerce
    .number()
    .int()
    .min(1)
    .max(20_000)
    .default(10_000)
    .describe('Usage records counted per transaction (a v2 usage message carries many; whole messages are taken)'),
  METERING_BATCH_LINGER: duration('20ms').describe(
    'How long a partial batch waits for more usage before it is counted',
  ),
  METERING_BATCH_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(8)
    .default(2)
    .describe('Usage batches counted at once, each in its own transaction'),
  METERING_DEDUP_RETENTION: duration('35d').describe(
    'How long a counted usage key is remembered (keep it at least USAGE_MAX_AGE, so no redelivery or replay counts twice)',
  ),
  METERING_SAMPLE_INTERVAL: duration('5m').describe(
    'How often the storage and user count of each tenant are sampled (storage measured again only for tenants that called the API since the last sample)',
  ),
  METERING_FULL_SAMPLE_INTERVAL: duration('1h').describe(
    "How often every tenant's storage is measured again, whether it called the API or not (a restore or an upgrade changes it without a call)",
  ),
  METERING_WINDOW_GRACE: duration('5m').describe(
    'How long after a window ends its late usage is still counted in it before it closes',
  ),
  METERING_CLOSE_INTERVAL: duration('30s').describe('How often metering looks for windows to close and publish'),
  METERING_TOTALS_INTERVAL: duration('250ms').describe(
    'Least time between two writes of usage totals to the ttm-usage-totals bucket (quota enforcement reads them)',
  ),
  METERING_DATA_PLANE_POOL_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(20)
    .default(2)
    .describe('Connections per data-plane database metering samples'),
});
export type MeteringConfig = z.output<typeof meteringEnv>;
