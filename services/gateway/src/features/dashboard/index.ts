import type { GatewayDeps } from '../../deps.js';
import { listUpgrades } from '../upgrades/index.js';
import { LiveAggregator, type LiveAggregatorOptions } from './aggregator.js';
import { LiveHub, type LiveHubOptions } from './hub.js';
import { DashboardSessions } from './session.js';

export { dashboard, defaultAssetsDir } from './routes.js';

export interface DashboardParts {
  sessions: DashboardSessions;
  aggregator: LiveAggregator;
  hub: LiveHub;
}

/** Upgrades the live stream follows: the most recent ones (the dashboard's list shows as many). */
const LIVE_UPGRADES = 20;
/** A read the stream waits for at most (the next one comes a second later). */
const LIVE_UPGRADES_TIMEOUT_MS = 5_000;

/**
 * The dashboard's long-lived parts, built once by the composition root: the session store, the
 * live aggregate (ticking until `signal` aborts) and the hub of live sockets.
 */
export function createDashboard(
  deps: GatewayDeps,
  signal: AbortSignal,
  options: { aggregator?: LiveAggregatorOptions; hub?: LiveHubOptions } = {},
): DashboardParts {
  const sessions = new DashboardSessions(deps.redis, deps.config.REDIS_KEY_PREFIX, deps.config.SUPER_ADMIN_KEY);
  let hub: LiveHub | undefined;
  const aggregator = new LiveAggregator(
    {
      directory: deps.directory,
      backups: deps.backups,
      migrations: deps.migrations,
      backlog: deps.backlog,
      js: deps.js,
      pool: deps.pool,
      metrics: deps.metrics,
      logger: deps.logger,
      upgrades: async () =>
        (await listUpgrades(deps.nc, LIVE_UPGRADES, LIVE_UPGRADES_TIMEOUT_MS)).map(
          ({ tenants: _, ...upgrade }) => upgrade,
        ),
      watched: () => (hub?.size ?? 0) > 0,
    },
    options.aggregator,
  );
  aggregator.start(signal);
  const live = new LiveHub(aggregator, deps.logger, options.hub);
  hub = live;
  signal.addEventListener('abort', () => live.close(), { once: true });
  return { sessions, aggregator, hub: live };
}
