import { fileURLToPath } from 'node:url';
import { runMain, runProjection, startService } from '@ttm/service-kit';
import { buildGatewayApp } from './app.js';
import { gatewayEnv } from './config.js';
import { GATEWAY_SCHEMA, tenantsProjection } from './tenants/projection.js';

const VERSION = '0.1.0';

runMain(async () => {
  const service = await startService({
    name: 'gateway',
    version: VERSION,
    description: 'REST gateway: turns HTTP into commands and serves projections',
    env: gatewayEnv,
    port: (config) => config.PORT,
    postgres: {
      schema: GATEWAY_SCHEMA,
      migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)),
    },
    redis: true,
    opsServer: false,
  });
  const { config, logger, lifecycle, js } = service;
  const pool = service.pool!;

  const tenants = runProjection({ js, pool, projection: tenantsProjection, logger, signal: lifecycle.signal });
  lifecycle.onStop('tenants projection', () => tenants);

  const app = await buildGatewayApp({
    logger,
    health: service.health,
    metrics: service.metrics,
    version: VERSION,
    trustProxy: config.TRUST_PROXY,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
  });
  await app.listen({ port: config.PORT, host: config.HOST });
  lifecycle.onStop('http', () => app.close());
  logger.info({ port: config.PORT }, 'gateway listening');
});
