import fastifyCookie from '@fastify/cookie';
import { Kvm } from '@nats-io/kv';
import { Buckets } from '@ttm/contracts';
import {
  createCatalog,
  dataPlaneBudget,
  LocalKeyEncryptionKeys,
  loadConfig,
  runProjection,
  type ServiceContext,
  sharedCounter,
  startOpsServer,
  startService,
} from '@ttm/service-kit';
import type { FastifyInstance, FastifyListenOptions, FastifyPluginAsync } from 'fastify';
import { buildGatewayApp } from './app.js';
import {
  DEFAULT_ADMIN_KEY,
  emailVerificationRequired,
  type GatewayConfig,
  gatewayEnv,
  startupProblems,
} from './config.js';
import type { GatewayDeps } from './deps.js';
import { ApiKeys } from './features/apiKeys/index.js';
import { AuditRecorder, auditProjection, auditRoutes, RefusedLoginAudit } from './features/audit/index.js';
import {
  AccessTokens,
  authRoutes,
  decoratePrincipal,
  PasswordHasher,
  RefreshTokens,
  SigningKeyRing,
  scheduleSigningKeyRotation,
  signingKeyRoutes,
} from './features/auth/index.js';
import { BackupIndex, backupRoutes, idleTenantRoutes } from './features/backups/index.js';
import { createDashboard, type DashboardParts, dashboard, defaultAssetsDir } from './features/dashboard/index.js';
import { adoptDataPlane, DATA_PLANE_APPLICATION_NAME, DataPlanePools } from './features/dataPlane/index.js';
import {
  EmailVerifications,
  emailVerificationRoutes,
  LogMailTransport,
  type MailTransport,
  Outbox,
  OutboxDispatcher,
} from './features/emailVerification/index.js';
import { ConsumerBacklog, fleetMetrics, fleetRoutes } from './features/fleet/index.js';
import { FreezeWatcher } from './features/freezes/index.js';
import { MigrationIndex, migrationRoutes } from './features/migrations/index.js';
import { OperationTracker, operationRoutes } from './features/operations/index.js';
import { adminQuotaRoutes, QuotaReader, tenantQuotaRoutes } from './features/quotas/index.js';
import { tenantRoutes } from './features/tenantApi/routes.js';
import {
  GATEWAY_SCHEMA,
  registrationRoutes,
  TenantDirectory,
  tenantAdminRoutes,
  tenantBySlug,
  tenantsProjection,
} from './features/tenants/index.js';
import { upgradeRoutes } from './features/upgrades/index.js';
import { invitationRoutes } from './features/users/invitationRoutes.js';
import { Invitations } from './features/users/invitations.js';
import { adminWebhookRoutes, alertmanagerRoutes, tenantWebhookRoutes } from './features/webhooks/index.js';
import { IdempotencyStore } from './idempotency.js';
import { adminAuth } from './plugins/adminAuth.js';
import {
  gatewayInstanceId,
  QuotaGate,
  RateLimiter,
  type RequestPathComponents,
  requestPathMetrics,
  tenantRequestPath,
  UsageMeter,
} from './plugins/requestPath/index.js';
import { tenantAuthenticate } from './plugins/tenantAuth.js';
import { tenantAuthorize } from './plugins/tenantAuthorize.js';
import { writeFreeze } from './plugins/writeFreeze.js';

export const VERSION = '0.1.0';

export interface Gateway {
  app: FastifyInstance;
  deps: GatewayDeps;
  service: ServiceContext<GatewayConfig>;
  /** Base URL it listens on, e.g. http://127.0.0.1:3000. */
  url: string;
  stop(): Promise<void>;
}

/** How often expired refresh tokens are deleted. */
const purgeEveryMs = 3_600_000;

/**
 * The gateway, started: the composition root. It opens the connections, builds every long-lived
 * component (projections, the tenant directory, indexes, trackers, watchers, pools, caches) once,
 * hands them to the route plugins as `GatewayDeps`, and registers each one's close with the
 * lifecycle, which runs them in reverse order (HTTP first, the connections last).
 * `main.ts` runs it as a process; tests run it in-process with their own environment.
 */
export async function startGateway(
  env: NodeJS.ProcessEnv,
  options: {
    handleSignals?: boolean;
    /** Tests: more routes in the tenant scope (behind authentication and the request path). */
    extraTenantRoutes?: FastifyPluginAsync<GatewayDeps>;
    /** Where mail goes instead of MAIL_TRANSPORT (tests read the verification mail from it). */
    mailTransport?: MailTransport;
  } = {},
): Promise<Gateway> {
  // Checked before anything connects: a refused configuration leaves nothing open.
  const problems = startupProblems(loadConfig(gatewayEnv, env));
  if (problems.length > 0) throw new Error(problems.join('; '));
  const service = await startService(
    {
      name: 'gateway',
      version: VERSION,
      description: 'REST gateway: turns HTTP into commands and serves projections',
      env: gatewayEnv,
      port: (config) => config.PORT,
      postgres: { schema: GATEWAY_SCHEMA, migrationsDir: new URL('../migrations', import.meta.url) },
      redis: true,
      opsServer: false,
      handleSignals: options.handleSignals,
    },
    env,
  );
  const { config, logger, lifecycle } = service;
  if (config.SUPER_ADMIN_KEY === DEFAULT_ADMIN_KEY) {
    logger.warn('SUPER_ADMIN_KEY is the development default; set a secret before exposing the gateway');
  }
  const { deps, dashboardParts } = await buildComponents(service, options.mailTransport);

  const app = await buildGatewayApp({
    logger,
    health: service.health,
    metrics: service.metrics,
    version: VERSION,
    trustProxy: config.TRUST_PROXY,
    corsOrigins: config.CORS_ORIGINS,
    requestTimeoutMs: config.REQUEST_TIMEOUT,
    maxConnections: config.MAX_CONNECTIONS,
    ...(config.OPS_ENDPOINTS_ACCESS === 'admin-key' ? { protectOpsEndpointsWith: config.SUPER_ADMIN_KEY } : {}),
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    tracing: config.OTEL_ENABLED,
  });
  await app.register(fastifyCookie);
  await app.register(dashboard, { deps, ...dashboardParts, assetsDir: defaultAssetsDir });
  await registerFeatures(app, deps, options.extraTenantRoutes);
  // fastify hands these to net.Server#listen, whose `reusePort` (Node >= 22.12) its types omit.
  const listenOptions: FastifyListenOptions & { reusePort?: boolean } = {
    port: config.PORT,
    host: config.HOST,
    reusePort: config.REUSE_PORT,
  };
  const address = await app.listen(listenOptions);
  lifecycle.onStop('http', () => app.close());
  if (config.METRICS_PORT !== undefined) {
    const ops = await startOpsServer({
      service: 'gateway',
      health: service.health,
      metrics: service.metrics,
      port: config.METRICS_PORT,
      host: config.HOST,
    });
    lifecycle.onStop('health and metrics http', () => ops.close());
  }
  logger.info({ address, tenants: deps.directory.size }, 'gateway listening');
  const url = address.replace('[::]', '127.0.0.1').replace('0.0.0.0', '127.0.0.1');
  return { app, deps, service, url, stop: () => lifecycle.stop('stop requested') };
}

/** Every long-lived component, built once and in dependency order; each close registered as it is built. */
async function buildComponents(
  service: ServiceContext<GatewayConfig>,
  mailTransport: MailTransport | undefined,
): Promise<{ deps: GatewayDeps; dashboardParts: DashboardParts }> {
  const { config, logger, lifecycle, js, metrics } = service;
  const nc = service.nats.nc;
  const pool = service.pool!;
  const redis = service.redis!;
  const catalog = createCatalog(config);

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

  // Sign-in: the signing key ring (creating the first key if there is none), tokens, passwords.
  const kek = LocalKeyEncryptionKeys.fromConfig(config);
  const keys = await SigningKeyRing.open({ pool, logger, kek, accessTokenTtlMs: config.ACCESS_TOKEN_TTL });
  lifecycle.onStop('signing keys', () => keys.close());
  const rotation = scheduleSigningKeyRotation({ pool, kek, logger, maxAgeMs: config.SIGNING_KEY_MAX_AGE });
  lifecycle.onStop('signing key rotation', () => rotation.stop());
  const refreshTokens = new RefreshTokens(pool, config.REFRESH_TOKEN_TTL, config.REFRESH_TOKEN_MAX_LIFETIME);
  const purge = setInterval(() => {
    refreshTokens
      .purgeExpired()
      .catch((error: unknown) => logger.warn({ err: error }, 'purging expired refresh tokens failed'));
  }, purgeEveryMs);
  purge.unref();
  lifecycle.onStop('refresh token purge', () => clearInterval(purge));

  // Every statement has a timeout, so one slow tenant cannot hold a connection for long.
  const clusterPools = adoptDataPlane(
    service,
    new DataPlanePools(catalog, logger, {
      applicationName: DATA_PLANE_APPLICATION_NAME,
      maxConnections: config.DATA_PLANE_POOL_MAX,
      tenantShards: config.DATA_PLANE_POOL_SHARDS,
      maxTotalConnections: config.DATA_PLANE_CONNECTIONS_MAX,
      ...dataPlaneBudget(config, 'gateway'),
      idleTimeoutMs: 30_000,
      connectionTimeoutMs: 5_000,
      sessionOptions: '-c statement_timeout=5000 -c idle_in_transaction_session_timeout=10000',
    }),
  );

  const backups = new BackupIndex();
  backups.start(js, logger);
  lifecycle.onStop('backup index', () => backups.stop());
  const migrations = new MigrationIndex();
  migrations.start(js, logger);
  lifecycle.onStop('migration index', () => migrations.stop());

  const freezes = new FreezeWatcher(() => directory.position, logger);
  await freezes.start(nc);
  lifecycle.onStop('write freeze watcher', () => freezes.stop());

  const requestPath = await openRequestPath(service);
  const invitations = new Invitations(pool, config.INVITATION_TTL);

  // Mail (verification links) leaves through the outbox, sent by whichever gateway locks it first.
  const transport = mailTransport ?? new LogMailTransport(logger.child({ component: 'mail' }));
  const required = emailVerificationRequired(config);
  if (required && config.NODE_ENV === 'production' && transport.name === 'log') {
    logger.warn('EMAIL_VERIFICATION=required with MAIL_TRANSPORT=log: verification links only reach the log');
  }
  const dispatcher = new OutboxDispatcher({
    pool,
    kek,
    transport,
    logger: logger.child({ component: 'outbox' }),
    pollIntervalMs: config.OUTBOX_POLL_INTERVAL,
  });
  dispatcher.start();
  lifecycle.onStop('mail outbox', () => dispatcher.stop());
  const emailVerification = {
    required,
    verifications: new EmailVerifications(pool, config.EMAIL_VERIFICATION_TTL),
    outbox: new Outbox(kek),
    dispatcher,
  };
  const audit = new AuditRecorder(
    js,
    logger,
    sharedCounter(metrics, {
      name: 'audit_write_failures_total',
      help: 'Audit entries that could not be stored (sign-in carried on)',
      labelNames: ['action'],
    }),
  );
  const folded = sharedCounter(metrics, {
    name: 'login_refusals_folded_total',
    help: 'Refused logins counted into a per-window AUDIT summary instead of written one by one',
  });
  const refusedLogins = new RefusedLoginAudit({
    windowMs: config.LOGIN_AUDIT_WINDOW,
    maxEntriesPerWindow: config.LOGIN_AUDIT_MAX_ENTRIES,
    logger,
    write: (entry, request) => audit.recordBestEffort(entry, request),
    onFolded: () => folded.inc(),
  });
  refusedLogins.start();
  lifecycle.onStop('refused login audit', () => refusedLogins.stop());

  const deps: GatewayDeps = {
    config,
    logger,
    metrics,
    nc,
    js,
    pool,
    redis,
    catalog,
    directory,
    audit,
    refusedLogins,
    keys,
    kek,
    accessTokens: new AccessTokens(keys, { issuer: config.JWT_ISSUER, ttlMs: config.ACCESS_TOKEN_TTL }),
    refreshTokens,
    invitations,
    emailVerification,
    memberTenants: (email) => invitations.memberTenants(email),
    passwords: new PasswordHasher(config),
    clusterPools,
    apiKeys: new ApiKeys({ pool, nc, logger, cacheTtlMs: config.API_KEY_CACHE_TTL }),
    idempotency: new IdempotencyStore(redis, config.REDIS_KEY_PREFIX, { ttlMs: config.IDEMPOTENCY_TTL }),
    operations: new OperationTracker(directory, pool, logger),
    backups,
    migrations,
    freezes,
    quotas: new QuotaReader({ nc, js, catalog, config }),
    backlog: new ConsumerBacklog(js),
    requestPath,
  };

  // The operator dashboard: its sessions also authorize the admin routes (see plugins/adminAuth.ts).
  const live = new AbortController();
  const dashboardParts = createDashboard(deps, live.signal);
  deps.adminSession = dashboardParts.sessions.authorizes;
  lifecycle.onStop('dashboard live stream', () => live.abort());
  return { deps, dashboardParts };
}

/**
 * The tenant request path's components: the quota gate following `ttm-quota-state`, the api_calls
 * meter flushing every USAGE_FLUSH_INTERVAL, the Redis rate limiter. At shutdown (after HTTP closed)
 * the gate stops, what was counted is published, then the limiter closes.
 */
async function openRequestPath(service: ServiceContext<GatewayConfig>): Promise<RequestPathComponents> {
  const { config, lifecycle, js } = service;
  const metrics = requestPathMetrics(service.metrics);
  const log = service.logger.child({ component: 'request-path' });

  const limiter = config.ENABLE_RATE_LIMITING
    ? new RateLimiter({
        redis: service.redis!,
        keyPrefix: config.REDIS_KEY_PREFIX,
        timeoutMs: config.RATE_LIMIT_REDIS_TIMEOUT,
        localFallback:
          config.RATE_LIMIT_FAILURE_MODE === 'local' ? { gateways: config.RATE_LIMIT_GATEWAYS } : undefined,
        logger: log,
        metrics,
      })
    : undefined;
  if (limiter) lifecycle.onStop('rate limiter', () => limiter.close());
  await limiter?.connected;

  const meter = new UsageMeter({ js, logger: log, metrics, instanceId: gatewayInstanceId() });
  const flushing = setInterval(() => {
    meter.flush().catch((error: unknown) => log.error({ err: error }, 'flushing api_calls usage failed'));
  }, config.USAGE_FLUSH_INTERVAL);
  flushing.unref();
  lifecycle.onStop('api_calls meter', async () => {
    clearInterval(flushing);
    // Everything counted goes out before NATS drains (the lifecycle closes HTTP first).
    const left = await meter.drain(Math.max(1_000, Math.floor(config.SHUTDOWN_TIMEOUT / 2)));
    if (left > 0) log.error({ calls: left }, 'api_calls usage could not be published before shutdown');
  });

  const gate = new QuotaGate(log, metrics);
  const stopping = new AbortController();
  const quotaState = await new Kvm(service.nats.nc).open(Buckets.quotaState);
  const following = gate.follow(quotaState, stopping.signal);
  lifecycle.onStop('quota gate', async () => {
    stopping.abort();
    // A watch being opened while NATS is down ends at its request timeout: do not wait for it.
    await Promise.race([following, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  });

  return { metrics, gate, meter, limiter };
}

/** Every feature's routes, each a fastify plugin given the gateway's dependencies. */
async function registerFeatures(
  app: FastifyInstance,
  deps: GatewayDeps,
  extraTenantRoutes?: FastifyPluginAsync<GatewayDeps>,
): Promise<void> {
  await app.register(fleetMetrics, deps);
  await app.register(registrationRoutes, deps);
  await app.register(authRoutes, deps);
  await app.register(invitationRoutes, deps);
  await app.register(emailVerificationRoutes, deps);
  await app.register(operationRoutes, deps);
  await app.register(adminScope, deps);
  await app.register(alertmanagerRoutes, deps);
  await app.register(tenantScope, { ...deps, ...(extraTenantRoutes ? { extraTenantRoutes } : {}) });
}

/** Every `/api/admin/*` route, in one scope behind `X-Admin-Key` (its hook covers every child plugin). */
const adminScope: FastifyPluginAsync<GatewayDeps> = async (admin, deps) => {
  await admin.register(adminAuth, {
    adminKey: deps.config.SUPER_ADMIN_KEY,
    audit: deps.audit,
    logger: deps.logger,
    ...(deps.adminSession ? { session: deps.adminSession } : {}),
  });
  await admin.register(tenantBySlug, deps);
  await admin.register(backupRoutes, deps);
  await admin.register(adminQuotaRoutes, deps);
  await admin.register(migrationRoutes, deps);
  await admin.register(idleTenantRoutes, deps);
  await admin.register(tenantAdminRoutes, deps);
  await admin.register(fleetRoutes, deps);
  await admin.register(signingKeyRoutes, deps);
  await admin.register(auditRoutes, deps);
  await admin.register(adminWebhookRoutes, deps);
  await admin.register(upgradeRoutes, deps);
};

/**
 * Every `/api/tenant/*` route but the sign-in ones, in one scope whose hooks run in this order:
 * authenticate (bearer token or API key) → write freeze → rate limit, quota, metering → route.
 */
const tenantScope: FastifyPluginAsync<GatewayDeps & { extraTenantRoutes?: FastifyPluginAsync<GatewayDeps> }> = async (
  tenant,
  deps,
) => {
  decoratePrincipal(tenant);
  tenant.addHook('onRequest', tenantAuthenticate(deps));
  tenant.addHook('onRequest', tenantAuthorize(deps));
  await tenant.register(writeFreeze, deps);
  await tenant.register(tenantRequestPath, deps);
  await tenant.register(tenantRoutes, deps);
  await tenant.register(tenantQuotaRoutes, deps);
  await tenant.register(tenantWebhookRoutes, deps);
  if (deps.extraTenantRoutes) await tenant.register(deps.extraTenantRoutes, deps);
};
