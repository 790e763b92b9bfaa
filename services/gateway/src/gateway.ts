import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import { createCatalog, runProjection, type ServiceContext, startService } from '@ttm/service-kit';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { adminRoutes, auditProjection, fleetMetrics } from './admin/index.js';
import { buildGatewayApp } from './app.js';
import { AuditRecorder } from './audit/recorder.js';
import { type AuthDeps, authRoutes, decoratePrincipal, openAuth } from './auth/index.js';
import { type GatewayConfig, gatewayEnv, productionProblems } from './config.js';
import type { GatewayDeps } from './deps.js';
import { createDashboard, dashboard, defaultAssetsDir } from './features/dashboard/index.js';
import { writeFreeze } from './freeze/index.js';
import { operationRoutes } from './operations/index.js';
import { tenantQuotaRoutes } from './quotas/routes.js';
import { registrationRoutes } from './registration/routes.js';
import { tenantRequestPath } from './requestPath/index.js';
import { tenantAuthenticate } from './tenantApi/authenticate.js';
import { tenantRoutes } from './tenantApi/routes.js';
import { TenantDirectory } from './tenants/directory.js';
import { GATEWAY_SCHEMA, tenantsProjection } from './tenants/projection.js';

export const VERSION = '0.1.0';

export interface Gateway {
  app: FastifyInstance;
  deps: GatewayDeps;
  service: ServiceContext<GatewayConfig>;
  /** Base URL it listens on, e.g. http://127.0.0.1:3000. */
  url: string;
  stop(): Promise<void>;
}

/**
 * The gateway, started: connections, projections, the tenant directory, the HTTP app.
 * `main.ts` runs it as a process; tests run it in-process with their own environment.
 */
export async function startGateway(
  env: NodeJS.ProcessEnv,
  options: {
    handleSignals?: boolean;
    /** Tests: more routes in the tenant scope (behind authentication and the request path). */
    extraTenantRoutes?: FastifyPluginAsync<AuthDeps>;
  } = {},
): Promise<Gateway> {
  const service = await startService(
    {
      name: 'gateway',
      version: VERSION,
      description: 'REST gateway: turns HTTP into commands and serves projections',
      env: gatewayEnv,
      port: (config) => config.PORT,
      postgres: { schema: GATEWAY_SCHEMA, migrationsDir: fileURLToPath(new URL('../migrations', import.meta.url)) },
      redis: true,
      opsServer: false,
      ...(options.handleSignals === undefined ? {} : { handleSignals: options.handleSignals }),
    },
    env,
  );
  const { config, logger, lifecycle, js } = service;
  const problems = productionProblems(config);
  if (problems.length > 0) throw new Error(problems.join('; '));
  if (config.NODE_ENV !== 'production' && config.SUPER_ADMIN_KEY.startsWith('dev-')) {
    logger.warn('SUPER_ADMIN_KEY is the development default; set a secret before exposing the gateway');
  }
  const pool = service.pool!;

  const tenants = runProjection({ js, pool, projection: tenantsProjection, logger, signal: lifecycle.signal });
  lifecycle.onStop('tenants projection', () => tenants);
  const auditLog = runProjection({ js, pool, projection: auditProjection, logger, signal: lifecycle.signal });
  lifecycle.onStop('audit log projection', () => auditLog);

  const directory = new TenantDirectory();
  await directory.load(pool);
  const following = directory.follow(js, logger, lifecycle.signal).catch((error: unknown) => {
    logger.error({ err: error }, 'tenant directory stopped following events');
  });
  lifecycle.onStop('tenant directory', () => following);

  const deps: GatewayDeps = {
    config,
    logger,
    metrics: service.metrics,
    nc: service.nats.nc,
    js,
    pool,
    redis: service.redis!,
    catalog: createCatalog(config),
    directory,
    audit: new AuditRecorder(js, logger),
  };

  const app = await buildGatewayApp({
    logger,
    health: service.health,
    metrics: service.metrics,
    version: VERSION,
    trustProxy: config.TRUST_PROXY,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    tracing: config.OTEL_ENABLED,
  });
  const auth = await openAuth(deps);
  lifecycle.onStop('auth', () => auth.close());
  const featureDeps: AuthDeps = { ...deps, keys: auth.keys, clusterPools: auth.clusterPools };
  const live = new AbortController();
  const dashboardParts = createDashboard(featureDeps, live.signal);
  featureDeps.adminSession = dashboardParts.sessions.authorizes;
  lifecycle.onStop('dashboard live stream', () => live.abort());
  await app.register(fastifyCookie);
  await app.register(dashboard, { deps: featureDeps, ...dashboardParts, assetsDir: defaultAssetsDir });
  await registerFeatures(app, featureDeps, options.extraTenantRoutes);
  const address = await app.listen({ port: config.PORT, host: config.HOST });
  lifecycle.onStop('http', () => app.close());
  logger.info({ address, tenants: directory.size }, 'gateway listening');
  const url = address.replace('[::]', '127.0.0.1').replace('0.0.0.0', '127.0.0.1');
  return { app, deps, service, url, stop: () => lifecycle.stop('stop requested') };
}

/** Every feature's routes, each a fastify plugin given the gateway's dependencies. */
async function registerFeatures(
  app: FastifyInstance,
  deps: AuthDeps,
  extraTenantRoutes?: FastifyPluginAsync<AuthDeps>,
): Promise<void> {
  await app.register(fleetMetrics, deps);
  await app.register(registrationRoutes, deps);
  await app.register(authRoutes, deps);
  await app.register(operationRoutes, deps);
  await app.register(adminRoutes, deps);
  await app.register(tenantScope, { ...deps, ...(extraTenantRoutes ? { extraTenantRoutes } : {}) });
}

/**
 * Every `/api/tenant/*` route but the sign-in ones, in one scope whose hooks run in this order:
 * authenticate (bearer token or API key) → write freeze → rate limit, quota, metering → route.
 */
const tenantScope: FastifyPluginAsync<AuthDeps & { extraTenantRoutes?: FastifyPluginAsync<AuthDeps> }> = async (
  tenant,
  deps,
) => {
  decoratePrincipal(tenant);
  tenant.addHook('onRequest', tenantAuthenticate(deps));
  await tenant.register(writeFreeze, deps);
  await tenant.register(tenantRequestPath, deps);
  await tenant.register(tenantRoutes, deps);
  await tenant.register(tenantQuotaRoutes, deps);
  if (deps.extraTenantRoutes) await tenant.register(deps.extraTenantRoutes, deps);
};
