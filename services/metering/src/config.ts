import { commonEnv, portEnv, servicePorts } from '@ttm/service-kit';
import type { z } from 'zod';

export const meteringEnv = commonEnv.extend({
  METERING_PORT: portEnv.port(servicePorts.metering).describe('HTTP port of the metering health and metrics endpoints'),
});
export type MeteringConfig = z.output<typeof meteringEnv>;
