/**
 * `npm run replay -- <service>`: drop a service's projections and rebuild them from
 * the EVENTS stream. Stop the service first: replay recreates its durable consumers.
 */
import { type ServiceName, Services } from '@ttm/contracts';
import {
  commonEnv,
  connectNats,
  createLogger,
  createPool,
  loadConfig,
  type ProjectionDefinition,
  replayProjection,
  runMain,
} from '@ttm/service-kit';

runMain(async () => {
  const service = process.argv[2] as ServiceName | undefined;
  if (!service || !Services.includes(service)) {
    throw new Error(`usage: npm run replay -- <service>   (service is one of: ${Services.join(', ')})`);
  }
  const config = loadConfig(commonEnv);
  const logger = createLogger('replay', config.LOG_LEVEL);
  // A service lists its projections in src/projections.ts, or src/projections/index.ts beside their files.
  const module = (await import(`../services/${service}/src/projections.ts`)
    .catch(() => import(`../services/${service}/src/projections/index.ts`))
    .catch(() => ({ projections: [] }))) as {
    projections: readonly ProjectionDefinition[];
  };
  if (module.projections.length === 0) {
    console.log(`${service} keeps no projections: nothing to replay`);
    return;
  }
  const link = await connectNats(config.NATS_URL, 'ttm-replay', logger);
  const pool = createPool({ connectionString: config.DATABASE_URL, applicationName: 'ttm-replay', max: 2 }, logger);
  try {
    for (const projection of module.projections) {
      const started = Date.now();
      const { applied, lastSeq } = await replayProjection({ nc: link.nc, pool, projection, logger });
      console.log(
        `${projection.name}: rebuilt from ${applied} events up to stream sequence ${lastSeq} in ${Date.now() - started} ms`,
      );
    }
  } finally {
    await pool.end();
    await link.nc.drain();
  }
});
