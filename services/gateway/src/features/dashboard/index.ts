import type { GatewayDeps } from '../../deps.js';
import { LiveAggregator, type LiveAggregatorOptions } from './aggregator.js';
import { LiveHub, type LiveHubOptions } from './hub.js';
import { DashboardSessions } from './session.js';

export { dashboard, defaultAssetsDir } from './routes.js';

export interface DashboardParts {
  sessions: DashboardSessions;
  aggregator: LiveAggregator;
  hub: LiveHub;
}

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
    },
    options.aggregator,
  );
  aggregator.start(signal);
  const hub = new LiveHub(aggregator, deps.logger, options.hub);
  signal.addEventListener('abort', () => hub.close(), { once: true });
  return { sessions, aggregator, hub };
}
