import { z } from 'zod';
import { applySeedAliases } from './environment.js';

/** Thrown when the environment is wrong; the message has one line per bad or missing variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (examples: 500ms, 30s, 15m, 2h, 7d)` });
        return z.NEVER;
      }
      return ms;
    });

export function parseDuration(value: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) return undefined;
  const n = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1;
  return n * factor;
}

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

const url = (protocols: string[], fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    );

const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Environment shared by every service. Defaults work on a developer machine with no `.env`. */
export const commonEnv = z.object({
  HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Address the HTTP servers listen on (loopback by default; containers set 0.0.0.0)'),
  NATS_URL: z.string().default('nats://127.0.0.1:4222').describe('NATS server URL(s), comma separated'),
  NATS_USER: z
    .string()
    .optional()
    .describe(
      'NATS user of this service (a server configured with `npm run nats:auth` has one per service; bootstrap takes admin)',
    ),
  NATS_PASSWORD: z.string().optional().describe('Password of NATS_USER'),
  NATS_TLS_CA: z.string().optional().describe('CA file that signs the NATS server certificate (turns TLS on)'),
  NATS_TLS_CERT: z.string().optional().describe('Client certificate file for NATS TLS (with NATS_TLS_KEY)'),
  NATS_TLS_KEY: z.string().optional().describe('Client key file for NATS TLS'),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://postgres@127.0.0.1:5432/ttm').describe(
    'Control-plane PostgreSQL database (each service keeps its own schema in it)',
  ),
  DB_POOL_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(200)
    .default(10)
    .describe('Largest number of PostgreSQL connections this service opens'),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379').describe('Redis for rate limits and caches'),
  REDIS_KEY_PREFIX: z
    .string()
    .default('ttm:')
    .describe('Prefix of every Redis key (lets several deployments or test runs share one Redis)'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Least severe log level written (JSON lines on stdout)'),
  NATS_STREAM_REPLICAS: z.coerce
    .number()
    .int()
    .min(1)
    .max(5)
    .default(1)
    .describe('Replicas of every stream (3 on a cluster)'),
  USAGE_MAX_AGE: duration('35d').describe('How long raw usage samples stay in the USAGE stream'),
  DEADLETTER_MAX_AGE: duration('30d').describe('How long dead-lettered messages stay in DEADLETTER'),
  STREAM_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(-1)
    .default(-1)
    .describe('Size bound of each stream in bytes (-1: none)'),
  SHUTDOWN_TIMEOUT: duration('10s').describe('How long a service waits for in-flight work at shutdown'),
  OTEL_ENABLED: flag(false).describe('Start the OpenTelemetry SDK (configured by the standard OTEL_* variables)'),
});
export type CommonConfig = z.output<typeof commonEnv>;

/** Ports of each service's health and metrics endpoints. */
export const servicePorts = {
  gateway: 3000,
  provisioner: 3001,
  metering: 3002,
  quota: 3003,
  backup: 3004,
  webhooks: 3005,
} as const;

export const portEnv = { port, duration, url, flag };

/**
 * Parse the environment with a zod schema; collect every problem and throw one
 * ConfigError naming each variable, instead of failing on the first.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') input[key] = value;
  }
  // The seed's names for variables of this schema (GLOBAL_DATABASE_URL for DATABASE_URL, ...).
  const aliasProblems = applySeedAliases(input, new Set(Object.keys(schema.shape)));
  const parsed = schema.safeParse(input);
  if (parsed.success && aliasProblems.length === 0) return parsed.data;
  const problems = [
    ...aliasProblems,
    ...(parsed.error?.issues ?? []).map((issue) => {
      const name = issue.path.map(String).join('.');
      const got = input[name];
      const shown = got === undefined ? 'is missing' : `is "${redact(name, got)}"`;
      return `${name} ${shown}: ${issue.message}`;
    }),
  ];
  throw new ConfigError(problems);
}

function redact(name: string, value: string): string {
  if (/KEY|SECRET|PASSWORD|TOKEN/i.test(name)) return '***';
  return value.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}

/** The services that hold data-plane connections, each with a share of the deployment's budget. */
export const dataPlaneServices = ['gateway', 'provisioner', 'backup', 'metering'] as const;
export type DataPlaneService = (typeof dataPlaneServices)[number];

const shares = z
  .string()
  .default('gateway=40,provisioner=20,backup=20,metering=10')
  .transform((value, ctx) => {
    const parsed: Partial<Record<DataPlaneService, number>> = {};
    for (const part of value
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const match = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(part);
      const service = match?.[1] as DataPlaneService | undefined;
      if (!match || !service || !dataPlaneServices.includes(service)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${part}" is not <service>=<percent> with service one of ${dataPlaneServices.join(', ')}`,
        });
        return z.NEVER;
      }
      parsed[service] = Number(match[2]);
    }
    const total = Object.values(parsed).reduce((sum, n) => sum + n, 0);
    if (total > 100) {
      ctx.addIssue({ code: 'custom', message: `the shares add up to ${total} %, more than the whole budget` });
      return z.NEVER;
    }
    return parsed;
  });

/**
 * The deployment-wide data-plane connection budget (README, Connections): every service's
 * processes together hold at most DATA_PLANE_CONNECTION_BUDGET % of each PostgreSQL server's
 * max_connections; each process takes its service's share of that.
 */
export const dataPlaneBudgetEnv = {
  DATA_PLANE_CONNECTION_BUDGET: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(50)
    .describe(
      "Percent of each PostgreSQL server's max_connections (read at start) all services' data-plane connections together stay under",
    ),
  DATA_PLANE_BUDGET_SHARES: shares.describe(
    'Share of that budget per process of each service, in percent (run N instances of a service: give each 1/N of its share)',
  ),
  DATA_PLANE_ACQUIRE_TIMEOUT: duration('2s').describe(
    'How long a gateway data-plane query waits for a connection of the budget before 503 with Retry-After (other services wait at least 60s, then retry with backoff)',
  ),
};

/**
 * The quota warning threshold: the quota service sends its warning notices from it, and the
 * gateway shows a meter's state from it, so both read the same variable with the same rule.
 */
export const quotaWarningEnv = {
  QUOTA_WARNING_THRESHOLD: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(80)
    .describe('Percent of a limit at which a warning event is sent'),
};

/** Least wait for a connection of the budget in the services no HTTP client waits on. */
export const BACKGROUND_ACQUIRE_TIMEOUT_MS = 60_000;

/** The DataPlanePools options of one service's process, from `dataPlaneBudgetEnv`. */
export function dataPlaneBudget(
  config: {
    DATA_PLANE_CONNECTION_BUDGET: number;
    DATA_PLANE_BUDGET_SHARES: Partial<Record<DataPlaneService, number>>;
    DATA_PLANE_ACQUIRE_TIMEOUT: number;
  },
  service: DataPlaneService,
): { budgetPercent: number; budgetShare: number; acquireTimeoutMs: number } {
  return {
    budgetPercent: config.DATA_PLANE_CONNECTION_BUDGET,
    // A service left out of the shares still gets one connection per server (the floor of DataPlanePools).
    budgetShare: config.DATA_PLANE_BUDGET_SHARES[service] ?? 0,
    // Only an HTTP request has a client waiting; background work (a provisioning, a backup) queues longer.
    acquireTimeoutMs:
      service === 'gateway'
        ? config.DATA_PLANE_ACQUIRE_TIMEOUT
        : Math.max(config.DATA_PLANE_ACQUIRE_TIMEOUT, BACKGROUND_ACQUIRE_TIMEOUT_MS),
  };
}
