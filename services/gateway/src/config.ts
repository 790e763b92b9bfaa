import { commonEnv, portEnv, servicePorts } from '@ttm/service-kit';
import { z } from 'zod';

export const gatewayEnv = commonEnv.extend({
  PORT: portEnv.port(servicePorts.gateway).describe('HTTP port of the gateway (REST, docs, health, metrics)'),
  HOST: z.string().default('0.0.0.0').describe('Address the gateway listens on'),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576).describe('Largest accepted request body'),
  TRUST_PROXY: portEnv.flag(false).describe('Take the client address from X-Forwarded-For'),
});
export type GatewayConfig = z.output<typeof gatewayEnv>;
