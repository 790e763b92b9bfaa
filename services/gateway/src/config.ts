import {
  catalogEnv,
  commonEnv,
  DEVELOPMENT_KEK,
  dataPlaneBudgetEnv,
  keyEncryptionEnv,
  portEnv,
  quotaWarningEnv,
  servicePorts,
} from '@ttm/service-kit';
import { z } from 'zod';

export const DEFAULT_ADMIN_KEY = 'dev-admin-key-change-me';

export const gatewayEnv = commonEnv.extend({
  ...catalogEnv,
  ...keyEncryptionEnv,
  ...dataPlaneBudgetEnv,
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
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((value, ctx) => {
      const parsed = parseTrustProxy(value);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .describe(
      'Whom to believe X-Forwarded-For from: `false` (nobody), a number of proxy hops in front (1: one balancer), comma-separated addresses or CIDR ranges of the proxies (or loopback, linklocal, uniquelocal), or `true` (anyone: only behind a proxy that overwrites the header)',
    ),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin.length > 0),
    )
    .describe('Browser origins allowed to call the API cross-origin, comma separated (empty: CORS off)'),
  REQUEST_TIMEOUT: portEnv
    .duration('30s')
    .describe('Longest time a client may take to send a whole request (headers and body); 0 disables'),
  MAX_CONNECTIONS: z.coerce
    .number()
    .int()
    .min(0)
    .default(10_000)
    .describe('Open HTTP connections one gateway accepts; more are refused (0: no limit)'),
  OPS_ENDPOINTS_ACCESS: z
    .enum(['open', 'admin-key'])
    .default('open')
    .describe(
      '/metrics and /docs on PORT: `open`, or `admin-key` (X-Admin-Key or Authorization: Bearer <SUPER_ADMIN_KEY>; scrape METRICS_PORT instead)',
    ),
  NODE_ENV: z
    .string()
    .default('development')
    .describe('`production` refuses development defaults such as the admin key'),
  SUPER_ADMIN_KEY: z
    .string()
    .min(16, 'must be at least 16 characters')
    .default(DEFAULT_ADMIN_KEY)
    .describe(
      'Key admin endpoints take in X-Admin-Key (the development default is refused unless NODE_ENV is development or test and HOST is loopback)',
    ),
  JWT_ISSUER: z.string().default('ttm').describe('`iss` of access tokens'),
  ACCESS_TOKEN_TTL: portEnv.duration('15m').describe('Lifetime of access tokens'),
  SIGNING_KEY_MAX_AGE: portEnv
    .duration('90d')
    .describe(
      'Rotate the access-token signing key once it is this old (checked by every gateway, done by one; 0: only by hand)',
    ),
  REFRESH_TOKEN_TTL: portEnv.duration('30d').describe('Lifetime of refresh tokens'),
  REFRESH_TOKEN_MAX_LIFETIME: portEnv
    .duration('90d')
    .describe('Absolute lifetime of a session: its refresh tokens stop working this long after the login'),
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
  ARGON2_MAX_CONCURRENT: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('Password hashes (argon2id, on registration and new passwords) computed at once; 0: one per CPU core'),
  ARGON2_QUEUE_WAIT: portEnv
    .duration('10s')
    .describe(
      'Longest wait of a password hash for its turn; past it the request is answered 503 password-hashing-busy with Retry-After, nothing registered (the attempt still counts toward REGISTRATION_MAX_*)',
    ),
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
  REGISTRATION_MAX_PER_ADDRESS: z.coerce
    .number()
    .int()
    .min(0)
    .default(10)
    .describe('Organizations one client address may register per REGISTRATION_WINDOW before 429 (0: no limit)'),
  REGISTRATION_MAX_TOTAL: z.coerce
    .number()
    .int()
    .min(0)
    .default(1000)
    .describe('Organizations all addresses together may register per REGISTRATION_WINDOW before 429 (0: no limit)'),
  REGISTRATION_WINDOW: portEnv
    .duration('1h')
    .describe('Window of the registration limits; it starts at the first registration it counts'),
  EMAIL_VERIFICATION: z
    .enum(['required', 'off'])
    .optional()
    .describe(
      "`required`: a registration's admin signs in only after opening the link mailed to it (provisioning does not wait); `off`: at once. Default: `required` when NODE_ENV=production, `off` otherwise",
    ),
  EMAIL_VERIFICATION_TTL: portEnv.duration('48h').describe('How long an e-mail verification link works (single use)'),
  EMAIL_VERIFICATION_URL: z
    .url()
    .default('http://127.0.0.1:3000/verify-email')
    .describe('The page a verification mail links to, with ?token=…; it posts the token to /api/auth/verify-email'),
  MAIL_TRANSPORT: z
    .enum(['log'])
    .default('log')
    .describe('Where mail goes: `log` prints it to the log (development; a mail transport implements MailTransport)'),
  OUTBOX_POLL_INTERVAL: portEnv
    .duration('2s')
    .describe('How often the outbox of mail is checked for messages due (new mail is sent at once as well)'),
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
  OPERATION_STREAMS_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .default(1000)
    .describe('Operation event streams (SSE) one gateway keeps open at once; more answer 503'),
  OPERATION_STREAMS_PER_ADDRESS: z.coerce
    .number()
    .int()
    .min(1)
    .default(20)
    .describe('Operation event streams one client address may hold open on one gateway'),
  IDEMPOTENCY_TTL: portEnv.duration('24h').describe('How long an Idempotency-Key answer is kept'),
  DATA_PLANE_POOL_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(10)
    .describe('Connections per data-plane database (bounded pool per cluster, never per tenant)'),
  DATA_PLANE_POOL_SHARDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(3)
    .describe(
      "Tenant-affine pools a cluster's shared database is split into (DATA_PLANE_POOL_MAX shared among them): a tenant always uses the same one, so each PostgreSQL session caches the catalog of a fraction of the workspaces and one tenant holds at most its shard's connections",
    ),
  DATA_PLANE_CONNECTIONS_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(20)
    .describe(
      'Most data-plane connections of one gateway per PostgreSQL server, every database together (the lower of this and its budget share applies)',
    ),
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
  ...quotaWarningEnv,
});
export type GatewayConfig = z.output<typeof gatewayEnv>;

/** What fastify's `trustProxy` takes. */
export type TrustProxy = boolean | number | string[];

const ipv4 = /^(\d{1,3})(\.\d{1,3}){3}$/;

/** TRUST_PROXY as fastify takes it, or why it is not understood. */
export function parseTrustProxy(raw: string): TrustProxy | string {
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === 'yes') return true;
  if (value === 'false' || value === 'no' || value === '' || value === '0') return false;
  if (/^\d+$/.test(value)) return Number(value);
  const ranges = value.split(',').map((part) => part.trim());
  for (const range of ranges) {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(range)) continue;
    const [address, prefix, extra] = range.split('/');
    const v4 = ipv4.test(address ?? '');
    const v6 = !v4 && /^[0-9a-f:.]+$/.test(address ?? '') && (address ?? '').includes(':');
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (v4 ? 32 : 128));
    if ((!v4 && !v6) || !prefixOk || extra !== undefined) {
      return `"${range}" is not true, false, a number of hops, an address, a CIDR range or loopback/linklocal/uniquelocal`;
    }
  }
  return ranges;
}

/** True for an address only this machine can reach (the HOST a gateway listens on). */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Refuse settings that are fine on a laptop and dangerous anywhere else. The development admin
 * key is accepted only with NODE_ENV development or test and HOST a loopback address: a gateway
 * that others can reach never starts with a key everyone knows.
 */
export function startupProblems(config: GatewayConfig): string[] {
  const problems: string[] = [];
  if (config.SUPER_ADMIN_KEY === DEFAULT_ADMIN_KEY) {
    const local = (config.NODE_ENV === 'development' || config.NODE_ENV === 'test') && isLoopbackHost(config.HOST);
    if (!local) {
      problems.push(
        `SUPER_ADMIN_KEY is the development default, refused with NODE_ENV=${config.NODE_ENV} and HOST=${config.HOST}: ` +
          'set a secret (openssl rand -base64 32), or run on loopback in development',
      );
    }
  }
  if (config.NODE_ENV === 'production' && config.TTM_KEK === DEVELOPMENT_KEK) {
    problems.push('TTM_KEK is the development default: set a secret (openssl rand -base64 32)');
  }
  return problems;
}

/** EMAIL_VERIFICATION, or its default: required in production, off otherwise. */
export function emailVerificationRequired(config: Pick<GatewayConfig, 'EMAIL_VERIFICATION' | 'NODE_ENV'>): boolean {
  return (config.EMAIL_VERIFICATION ?? (config.NODE_ENV === 'production' ? 'required' : 'off')) === 'required';
}

/** @deprecated the same check as `startupProblems` (kept for callers of the old name). */
export const productionProblems = startupProblems;
