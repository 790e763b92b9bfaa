import { catalogEnv, commonEnv, portEnv, servicePorts } from '@ttm/service-kit';
import { z } from 'zod';

export const DEFAULT_ADMIN_KEY = 'dev-admin-key-change-me';

export const gatewayEnv = commonEnv.extend({
  ...catalogEnv,
  PORT: portEnv.port(servicePorts.gateway).describe('HTTP port of the gateway (REST, docs, health, metrics)'),

  REUSE_PORT: portEnv
    .flag(false)
    .describe(
      'Share PORT with other gateway processes on this machine (SO_REUSEPORT, Linux): `npm start --instances gateway=N` sets it',
    ),
  METRICS_PORT: z.coerce
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('Also serve /health/* and /metrics of this process alone on this port (several gateways sharing PORT)'),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576).describe('Largest accepted request body'),
  TRUST_PROXY: portEnv.flag(false).describe('Take the client address from X-Forwarded-For'),
  NODE_ENV: z
    .string()
    .default('development')
    .describe('`production` refuses development defaults such as the admin key'),
  SUPER_ADMIN_KEY: z
    .string()
    .min(16, 'must be at least 16 characters')
    .default(DEFAULT_ADMIN_KEY)
    .describe('Key admin endpoints take in X-Admin-Key (the default is refused when NODE_ENV=production)'),
  JWT_ISSUER: z.string().default('ttm').describe('`iss` of access tokens'),
  ACCESS_TOKEN_TTL: portEnv.duration('15m').describe('Lifetime of access tokens'),
  REFRESH_TOKEN_TTL: portEnv.duration('30d').describe('Lifetime of refresh tokens'),
  INVITATION_TTL: portEnv
    .duration('7d')
    .describe('How long an invitation token lets an invited user set a password (single use)'),
  ARGON2_MEMORY_KIB: z.coerce
    .number()
    .int()
    .min(7168)
    .default(19_456)
    .describe('argon2id memory cost in KiB (OWASP first profile: m=19 MiB, t=2, p=1)'),
  ARGON2_TIME_COST: z.coerce
    .number()
    .int()
    .min(1)
    .default(2)
    .describe('argon2id iterations (OWASP: 2 with 19 MiB, 3 with 12 MiB)'),
  LOGIN_MAX_FAILURES: z.coerce
    .number()
    .int()
    .min(1)
    .default(5)
    .describe('Failed logins per account (organization + email) before 429'),
  LOGIN_FAILURE_WINDOW: portEnv.duration('15m').describe('Window of the login limits'),
  LOGIN_MAX_HASHES_PER_ADDRESS: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      'Password hashes one client address may have checked per LOGIN_FAILURE_WINDOW, whatever the outcome (default: LOGIN_MAX_FAILURES x 20)',
    ),
  LOGIN_AUDIT_WINDOW: portEnv
    .duration('1m')
    .describe(
      'Refused logins in AUDIT: the first per account or address in each window is written, later ones as one summary with a count',
    ),
  LOGIN_AUDIT_MAX_ENTRIES: z.coerce
    .number()
    .int()
    .min(1)
    .default(1000)
    .describe('Refused-login AUDIT entries one gateway writes per LOGIN_AUDIT_WINDOW before it only counts them'),
  IDEMPOTENCY_TTL: portEnv.duration('24h').describe('How long an Idempotency-Key answer is kept'),
  DATA_PLANE_POOL_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(10)
    .describe('Connections per data-plane database (bounded pool per cluster, never per tenant)'),
  DATA_PLANE_CONNECTIONS_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(20)
    .describe('Connections to every data-plane database together (dedicated databases add pools, not connections)'),
  API_KEY_CACHE_TTL: portEnv
    .duration('10s')
    .describe('How long a verified tenant API key is trusted from memory (revocations also arrive over NATS at once)'),
  ENABLE_RATE_LIMITING: portEnv
    .flag(true)
    .describe('Limit tenant API requests per tenant (GCRA in Redis, shared by every gateway instance)'),
  RATE_LIMIT_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(1)
    .default(60_000)
    .describe('Rate limit window in ms for tenants whose plan the catalog does not know (plans: PLANS[].rateLimit)'),
  RATE_LIMIT_MAX_REQUESTS: z.coerce
    .number()
    .int()
    .min(1)
    .default(100)
    .describe('Requests per window for tenants whose plan the catalog does not know'),
  RATE_LIMIT_FAILURE_MODE: z
    .enum(['local', 'open', 'closed'])
    .default('local')
    .describe(
      "Redis unreachable or slow: `local` limits each tenant in memory to this gateway's share (limit / RATE_LIMIT_GATEWAYS), `open` lets tenant requests through, `closed` answers 503",
    ),
  RATE_LIMIT_GATEWAYS: z.coerce
    .number()
    .int()
    .min(1)
    .default(1)
    .describe(
      'Gateway instances sharing the rate limits: with RATE_LIMIT_FAILURE_MODE=local each allows limit / this while Redis is down',
    ),
  RATE_LIMIT_REDIS_TIMEOUT: portEnv
    .duration('50ms')
    .describe(
      'Longest wait for the rate limiter in Redis before RATE_LIMIT_FAILURE_MODE applies (0: wait as long as Redis takes)',
    ),
  USAGE_FLUSH_INTERVAL: portEnv
    .duration('1s')
    .describe('How often counted tenant API calls are published to USAGE (one message per tenant per flush)'),
  QUOTA_WARNING_THRESHOLD: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(80)
    .describe('Percent of a limit at which a warning event is sent'),
});
export type GatewayConfig = z.output<typeof gatewayEnv>;

/** Refuse settings that are fine on a laptop and dangerous in production. */
export function productionProblems(config: GatewayConfig): string[] {
  if (config.NODE_ENV !== 'production') return [];
  return config.SUPER_ADMIN_KEY === DEFAULT_ADMIN_KEY
    ? ['SUPER_ADMIN_KEY is the development default: set a secret']
    : [];
}
