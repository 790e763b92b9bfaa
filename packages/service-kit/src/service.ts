import { fileURLToPath } from 'node:url';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import type { ServiceName } from '@ttm/contracts';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { Counter, type Registry } from 'prom-client';
import type { z } from 'zod';
import { type CommonConfig, ConfigError, loadConfig } from './config.js';
import { loadDotEnv } from './environment.js';
import { HealthChecks, startOpsServer } from './health.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { createMetricsRegistry } from './metrics.js';
import { connectNats, type NatsLink, natsSecurityOf } from './nats.js';
import { registerNatsService } from './natsService.js';
import { trackOpsMetrics } from './opsMetrics.js';
import { createPool, migrate, pingPostgres, trackPools } from './postgres.js';
import { createRedis, type Redis, redisIsReady } from './redis.js';
import { startTelemetry } from './telemetry.js';

export interface ServiceOptions<S extends z.ZodObject> {
  name: ServiceName;
  version: string;
  description: string;
  /** The service's environment: `commonEnv.extend({...})`. */
  env: S;
  /** HTTP port of the ops endpoints (the gateway serves them on its own app instead). */
  port: (config: z.output<S>) => number;
  /** The service's own schema and the folder of its SQL migrations (a path, or a `file:` URL). */
  postgres?: { schema: string; migrationsDir: string | URL };
  redis?: boolean;
  /** The gateway mounts the ops routes on its public app; everyone else gets a small ops server. */
  opsServer?: boolean;
  /** SIGTERM/SIGINT stop the process (default, also when undefined). Tests running services in-process turn it off. */
  handleSignals?: boolean | undefined;
}

export interface ServiceContext<C> {
  name: ServiceName;
  config: C;
  logger: Logger;
  metrics: Registry;
  health: HealthChecks;
  lifecycle: Lifecycle;
  nats: NatsLink;
  js: JetStreamClient;
  pool: Pool | undefined;
  redis: Redis | undefined;
  ops: FastifyInstance | undefined;
}

/**
 * Everything a service does before its own work starts, in order: configuration,
 * logs, tracing, NATS, PostgreSQL and its migrations, Redis, the ops endpoints and
 * the NATS service registration. Each opened resource registers its closer so
 * SIGTERM undoes them in reverse order.
 */
export async function startService<S extends z.ZodObject>(
  options: ServiceOptions<S>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServiceContext<z.output<S> & CommonConfig>> {
  const config = loadConfig(options.env, env) as z.output<S> & CommonConfig;
  const logger = createLogger(options.name, config.LOG_LEVEL);
  const lifecycle = new Lifecycle(logger, config.SHUTDOWN_TIMEOUT);
  // First thing: a SIGTERM during start-up closes what is open so far and exits 0.
  if (options.handleSignals !== false) lifecycle.installSignalHandlers();
  const telemetry = await startTelemetry(options.name, config.OTEL_ENABLED, logger);
  lifecycle.onStop('telemetry', () => telemetry.shutdown());

  const metrics = createMetricsRegistry(options.name);
  const health = new HealthChecks();
  // Not ready from the first moment of shutdown, so load balancers stop sending work.
  lifecycle.signal.addEventListener('abort', () => health.markStopping(), { once: true });

  // Each lost NATS connection, however briefly: a node of a cluster going away shows here even
  // when the client reconnects to another node before any probe of /health/ready saw it.
  const natsDisconnects = new Counter({
    name: 'ttm_nats_disconnects_total',
    help: 'Times the NATS connection was lost (readiness is false until it reconnects)',
    registers: [metrics],
  });
  const nats = await connectNats(config.NATS_URL, `ttm-${options.name}`, logger, {
    security: natsSecurityOf(config),
    onDisconnect: () => natsDisconnects.inc(),
  }).catch((error: Error) => {
    throw new DependencyError('NATS', 'NATS_URL', config.NATS_URL, error);
  });
  lifecycle.onStop('nats', () => nats.nc.drain());
  health.add('nats', () => nats.isConnected());
  const js = jetstream(nats.nc);

  let pool: Pool | undefined;
  if (options.postgres) {
    const pg = options.postgres;
    pool = createPool(
      { connectionString: config.DATABASE_URL, max: config.DB_POOL_MAX, applicationName: `ttm-${options.name}` },
      logger,
    );
    const opened = pool;
    trackPools(metrics, 'control-plane', opened);
    lifecycle.onStop('postgres', () => opened.end());
    const migrationsDir = pg.migrationsDir instanceof URL ? fileURLToPath(pg.migrationsDir) : pg.migrationsDir;
    await migrate(opened, pg.schema, migrationsDir, logger).catch((error: Error) => {
      throw new DependencyError('PostgreSQL', 'DATABASE_URL', config.DATABASE_URL, error);
    });
    health.add('postgres', () => pingPostgres(opened));
  }

  let redis: Redis | undefined;
  if (options.redis) {
    const client = createRedis(config.REDIS_URL, logger);
    redis = client;
    await client.connect().catch((error: Error) => {
      throw new DependencyError('Redis', 'REDIS_URL', config.REDIS_URL, error);
    });
    lifecycle.onStop('redis', async () => {
      await client.quit().catch(() => client.disconnect());
    });
    health.add('redis', () => redisIsReady(client));
  }

  let ops: FastifyInstance | undefined;
  if (options.opsServer !== false) {
    ops = await startOpsServer({
      service: options.name,
      health,
      metrics,
      port: options.port(config),
      host: config.HOST,
    });
    const server = ops;
    lifecycle.onStop('ops-server', () => server.close());
  }

  const registration = await registerNatsService(nats.nc, {
    service: options.name,
    version: options.version,
    description: options.description,
  });
  lifecycle.onStop('nats-service', () => registration.stop());
  trackOpsMetrics(metrics, { service: options.name, health, js, pool });

  return { name: options.name, config, logger, metrics, health, lifecycle, nats, js, pool, redis, ops };
}

/** A dependency the service cannot reach at start: the message names the variable to fix. */
export class DependencyError extends Error {
  constructor(what: string, variable: string, value: string, cause: Error) {
    super(`${what} is not reachable at ${redactUrl(value)} (${cause.message}): start it or set ${variable}`);
    this.name = 'DependencyError';
  }
}

function redactUrl(value: string): string {
  return value.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}

/**
 * Run a service's main: start-up failures print one clear line to stderr and exit 1
 * (a configuration error prints one line per bad variable).
 */
export function runMain(main: () => Promise<void>): void {
  // `.env` of the working directory, under what the process environment already sets.
  loadDotEnv(process.env);
  main().catch((error: unknown) => {
    if (error instanceof ConfigError || error instanceof DependencyError) {
      console.error(error.message);
    } else {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    }
    process.exit(1);
  });
}
