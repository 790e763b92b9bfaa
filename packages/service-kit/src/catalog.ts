import { z } from 'zod';

/**
 * What an operator sells and where it runs: plans and regions, from configuration
 * (`PLANS`, `REGIONS` as JSON; `REGION` picks the default region). The defaults run
 * on one machine: three plans, two regions as two databases of the local server.
 */

const name = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 of a-z, 0-9 and -, starting with a letter');

export const PlanSchema = z.object({
  name,
  /** `database` gives the plan's tenants a dedicated database instead of a schema. */
  isolation: z.enum(['schema', 'database']).default('schema'),
  quotas: z.object({
    storage_bytes: z.number().int().positive(),
    users: z.number().int().positive(),
    api_calls_per_month: z.number().int().positive(),
  }),
  /**
   * Tenant API requests per tenant, enforced by every gateway together (GCRA in Redis):
   * `requests` per `windowMs` on average, all of them usable at once (burst = requests),
   * advertised as `RateLimit-Policy: "tenant";q=<requests>;w=<windowMs in s>`.
   */
  rateLimit: z.object({
    requests: z.number().int().positive(),
    windowMs: z.number().int().positive(),
  }),
  backups: z
    .object({
      scheduleEveryMs: z.number().int().nonnegative().default(0),
      keepLast: z.number().int().nonnegative().default(7),
      keepDaily: z.number().int().nonnegative().default(7),
      keepWeekly: z.number().int().nonnegative().default(4),
    })
    .default({ scheduleEveryMs: 0, keepLast: 7, keepDaily: 7, keepWeekly: 4 }),
  /**
   * Days without a sign-in or API call after which the backup service's idle sweep archives a
   * tenant of this plan (its next sign-in restores it). 0: never (the default of a plan that omits it).
   */
  archiveIdleDays: z.number().int().nonnegative().max(3650).default(0),
});
export type Plan = z.output<typeof PlanSchema>;

export const ClusterSchema = z.object({
  name,
  /** Connection URL of the cluster's shared database (schema-per-tenant lives here). */
  url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  /** Most tenants the cluster takes; placement picks the cluster with the most room left. */
  capacity: z.number().int().positive(),
  placements: z
    .array(z.enum(['schema', 'database']))
    .min(1)
    .default(['schema', 'database']),
});
export type Cluster = z.output<typeof ClusterSchema>;

export const RegionSchema = z.object({ name, clusters: z.array(ClusterSchema).min(1) });
export type Region = z.output<typeof RegionSchema>;

const GiB = 1024 ** 3;

export const DEFAULT_PLANS: z.input<typeof PlanSchema>[] = [
  {
    name: 'free',
    quotas: { storage_bytes: 1 * GiB, users: 3, api_calls_per_month: 100_000 },
    rateLimit: { requests: 100, windowMs: 60_000 },
    backups: { scheduleEveryMs: 0, keepLast: 3, keepDaily: 0, keepWeekly: 0 },
    archiveIdleDays: 30,
  },
  {
    name: 'pro',
    quotas: { storage_bytes: 20 * GiB, users: 50, api_calls_per_month: 5_000_000 },
    rateLimit: { requests: 1_000, windowMs: 60_000 },
    backups: { scheduleEveryMs: 86_400_000, keepLast: 7, keepDaily: 7, keepWeekly: 4 },
    archiveIdleDays: 90,
  },
  {
    name: 'enterprise',
    isolation: 'database',
    quotas: { storage_bytes: 500 * GiB, users: 10_000, api_calls_per_month: 100_000_000 },
    rateLimit: { requests: 10_000, windowMs: 60_000 },
    backups: { scheduleEveryMs: 3_600_000, keepLast: 24, keepDaily: 14, keepWeekly: 8 },
    archiveIdleDays: 0,
  },
];

/** Default data plane: two regions, each one cluster that is a database of the local server. */
export function defaultRegions(serverUrl = 'postgres://postgres@127.0.0.1:5432'): z.input<typeof RegionSchema>[] {
  return [
    { name: 'us-east-1', clusters: [{ name: 'use1-a', url: `${serverUrl}/ttm_dp_use1_a`, capacity: 5_000 }] },
    { name: 'eu-west-1', clusters: [{ name: 'euw1-a', url: `${serverUrl}/ttm_dp_euw1_a`, capacity: 5_000 }] },
  ];
}

const jsonOf = <S extends z.ZodType>(schema: S, fallback: () => unknown, example: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx): z.output<S> => {
      let value: unknown = fallback();
      if (raw !== undefined) {
        try {
          value = JSON.parse(raw);
        } catch {
          ctx.addIssue({ code: 'custom', message: `must be JSON, for example ${example}` });
          return z.NEVER;
        }
      }
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          ctx.addIssue({ code: 'custom', message: `${issue.path.join('.') || '(root)'}: ${issue.message}` });
        }
        return z.NEVER;
      }
      return parsed.data;
    });

const unique = <T extends { name: string }>(items: T[]) => new Set(items.map((i) => i.name)).size === items.length;

/** Environment fields describing the catalog; services that need it extend their env with these. */
export const catalogEnv = {
  PLANS: jsonOf(
    z.array(PlanSchema).min(1).refine(unique, 'plan names must be unique'),
    () => DEFAULT_PLANS,
    '[{"name":"free","quotas":{...},"rateLimit":{...}}]',
  ).describe('Plans as JSON (default: free, pro, enterprise)'),
  REGIONS: jsonOf(
    z.array(RegionSchema).min(1).refine(unique, 'region names must be unique'),
    () => defaultRegions(),
    '[{"name":"us-east-1","clusters":[{"name":"use1-a","url":"postgres://...","capacity":5000}]}]',
  ).describe('Regions and their PostgreSQL clusters as JSON (default: us-east-1 and eu-west-1 on the local server)'),
  REGION: name.default('us-east-1').describe('Region of tenants that ask for none'),
};

export interface Catalog {
  plans: Plan[];
  regions: Region[];
  defaultRegion: string;
  plan(name: string): Plan | undefined;
  region(name: string): Region | undefined;
}

export function createCatalog(config: { PLANS: Plan[]; REGIONS: Region[]; REGION: string }): Catalog {
  if (!config.REGIONS.some((r) => r.name === config.REGION)) {
    throw new Error(
      `REGION "${config.REGION}" is not one of REGIONS (${config.REGIONS.map((r) => r.name).join(', ')})`,
    );
  }
  const plans = new Map(config.PLANS.map((p) => [p.name, p]));
  const regions = new Map(config.REGIONS.map((r) => [r.name, r]));
  return {
    plans: config.PLANS,
    regions: config.REGIONS,
    defaultRegion: config.REGION,
    plan: (n) => plans.get(n),
    region: (n) => regions.get(n),
  };
}

/** The database a cluster URL names; throws if it names none. */
export function databaseOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!name) throw new Error(`cluster URL ${new URL(url).origin} names no database`);
  return name;
}

/** The cluster URL pointed at another database of the same server. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}
