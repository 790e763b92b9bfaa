import { LocalKeyEncryptionKeys, runProjection, type ServiceContext, startService } from '@ttm/service-kit';
import { type WebhooksConfig, webhooksEnv } from './config.js';
import { Dispatcher } from './delivery/dispatcher.js';
import { serveEndpointRequests } from './endpoints/requests.js';
import { EndpointSecrets } from './endpoints/secrets.js';
import { EndpointStore, WEBHOOKS_SCHEMA } from './endpoints/store.js';
import type { UrlPolicy } from './endpoints/urlPolicy.js';
import { billingFanOut, eventsFanOut } from './fanout/projection.js';

export interface Webhooks {
  service: ServiceContext<WebhooksConfig>;
  stop(): Promise<void>;
}

/**
 * The webhooks service, started: `main.ts` runs it as a process, tests in-process.
 *
 * Endpoints are managed over `query.webhooks.endpoints` (the gateway asks). Two projections
 * follow EVENTS and BILLING and write one pending delivery per subscribed endpoint; the
 * dispatcher sends them, signed (Standard Webhooks), retried on a schedule, per endpoint.
 */
export async function startWebhooks(
  env: NodeJS.ProcessEnv,
  options: { handleSignals?: boolean } = {},
): Promise<Webhooks> {
  const service = await startService(
    {
      name: 'webhooks',
      version: '0.1.0',
      description: 'Delivers product events to registered HTTPS endpoints, signed, at least once',
      env: webhooksEnv,
      port: (config) => config.WEBHOOKS_PORT,
      postgres: { schema: WEBHOOKS_SCHEMA, migrationsDir: new URL('../migrations', import.meta.url) },
      handleSignals: options.handleSignals,
    },
    env,
  );
  const { config, logger, lifecycle, js, metrics } = service;
  const pool = service.pool!;
  const signal = lifecycle.signal;
  const policy: UrlPolicy = {
    requireHttps: config.NODE_ENV === 'production',
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
  };
  if (policy.allowPrivate) logger.warn('WEBHOOK_ALLOW_PRIVATE is on: receivers on private addresses are accepted');
  const secrets = new EndpointSecrets(LocalKeyEncryptionKeys.fromConfig(config));
  const store = new EndpointStore(pool, secrets);
  const sealed = await store.sealPlainSecrets();
  if (sealed > 0) logger.info({ endpoints: sealed }, 'sealed plain endpoint secrets under the KEK');

  const dispatcher = new Dispatcher({
    pool,
    js,
    logger,
    metrics,
    policy,
    secrets,
    retry: { delaysMs: config.WEBHOOK_RETRY_SCHEDULE },
    disable: { afterMs: config.WEBHOOK_DISABLE_AFTER, minFailures: config.WEBHOOK_DISABLE_MIN_FAILURES },
    timeoutMs: config.WEBHOOK_TIMEOUT,
    concurrency: config.WEBHOOK_CONCURRENCY,
    pollIntervalMs: config.WEBHOOK_POLL_INTERVAL,
    signal,
  });
  const poke = () => dispatcher.poke();

  const requests = serveEndpointRequests({
    nc: service.nats.nc,
    store,
    policy,
    secretOverlapMs: config.WEBHOOK_SECRET_OVERLAP,
    onChange: poke,
    logger,
  });
  lifecycle.onStop('endpoint requests', () => requests.drain());

  const projections = [eventsFanOut, billingFanOut].map((projection) =>
    runProjection({ js, pool, projection, logger, signal, metrics, onApplied: poke }),
  );
  lifecycle.onStop('fan-out', () => Promise.all(projections).then(() => undefined));

  const dispatching = dispatcher.run();
  lifecycle.onStop('dispatcher', () => dispatching);

  logger.info({ port: config.WEBHOOKS_PORT }, 'webhooks ready');
  return { service, stop: () => lifecycle.stop('stop requested') };
}
