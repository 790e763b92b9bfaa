import { trackPools } from '@ttm/service-kit';
import { ClusterPools } from '../dataPlane/clusterPools.js';
import type { GatewayDeps } from '../deps.js';
import { SigningKeyRing } from './keys.js';
import { RefreshTokens } from './refreshTokens.js';

/** What sign-in needs beyond the gateway's connections; built once at start, closed at shutdown. */
export interface AuthComponents {
  /** Signing keys of access tokens, kept current from `gateway.signing_keys`. */
  keys: SigningKeyRing;
  /** One bounded pool per data-plane database, for reading Twenty users' password hashes. */
  clusterPools: ClusterPools;
}

/** The gateway's dependencies as the auth routes and the tenant-token guard take them. */
export type AuthDeps = GatewayDeps & AuthComponents;

export interface AuthRuntime extends AuthComponents {
  close(): Promise<void>;
}

const purgeEveryMs = 3_600_000;

/**
 * Open what sign-in needs: the signing key ring (creating the first key if there is none),
 * the data-plane pools, and an hourly purge of expired refresh tokens. `close()` undoes it.
 */
export async function openAuth(deps: GatewayDeps): Promise<AuthRuntime> {
  const keys = await SigningKeyRing.open({
    pool: deps.pool,
    logger: deps.logger,
    accessTokenTtlMs: deps.config.ACCESS_TOKEN_TTL,
  });
  const clusterPools = new ClusterPools(deps.catalog, deps.logger, {
    maxConnections: deps.config.DATA_PLANE_POOL_MAX,
    maxTotalConnections: deps.config.DATA_PLANE_CONNECTIONS_MAX,
  });
  trackPools(deps.metrics, 'data-plane', () => clusterPools.openPools());
  const refreshTokens = new RefreshTokens(deps.pool, deps.config.REFRESH_TOKEN_TTL);
  const purge = setInterval(() => {
    refreshTokens
      .purgeExpired()
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'purging expired refresh tokens failed'));
  }, purgeEveryMs);
  purge.unref();
  return {
    keys,
    clusterPools,
    async close() {
      clearInterval(purge);
      keys.close();
      await clusterPools.close();
    },
  };
}
