import pg from 'pg';

/**
 * A PostgreSQL role per service in the control-plane database: it owns its service's schema
 * (so its migrations run as itself) and has no privilege on another service's schema, so a
 * gateway compromised through the internet cannot read the backup service's tables, nor the
 * backup service the gateway's signing keys. Roles are cluster-wide: `prefix` keeps tests apart.
 *
 * The data plane is not covered here: each cluster's URL in REGIONS carries its own credentials.
 */
export interface ServiceRole {
  /** The schema the service keeps its projections in (its `postgres.schema`). */
  schema: string;
  role: string;
  /** Password for the role (servers that do not trust local connections); none: unchanged or none. */
  password?: string | undefined;
}

/**
 * Every service with a control-plane schema, and that schema (each service's `postgres.schema`).
 * No service reads another's schema: what one needs of another's state travels over NATS (events,
 * KV, core queries), so no role is granted anything outside its own schema.
 */
export const SERVICE_SCHEMAS = {
  gateway: 'gateway',
  backup: 'backup',
  provisioner: 'provisioner',
  metering: 'metering',
  quota: 'quota',
  webhooks: 'webhooks',
} as const;

export type ServiceWithSchema = keyof typeof SERVICE_SCHEMAS;

/**
 * The prefix of the role names (`ttm`; DATABASE_ROLE_PREFIX, read by the bootstrap and `npm start`
 * only, so that tests starting a stack on a shared server keep their roles apart).
 */
export const rolePrefix = (env: NodeJS.ProcessEnv): string => env.DATABASE_ROLE_PREFIX || 'ttm';

/** The control-plane role of a service: `ttm_gateway`, ... */
export const serviceRoleName = (service: string, prefix = 'ttm'): string => `${prefix}_${service}`;

const ident = pg.escapeIdentifier;

/**
 * Create (or update) the role, give it the schema and everything in it, and let it connect and
 * create its schema (node-pg-migrate runs CREATE SCHEMA IF NOT EXISTS, which checks CREATE on the
 * database first). Needs a superuser or a role with CREATEROLE that owns the schemas. Idempotent.
 */
export async function ensureServiceRole(client: pg.ClientBase, service: ServiceRole): Promise<void> {
  const role = ident(service.role);
  const schema = ident(service.schema);
  const { rows } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [service.role]);
  if (rows.length === 0) {
    // Roles are cluster-wide: a bootstrap of another database may create it at the same moment.
    // (the handler's subtransaction keeps a surrounding transaction usable).
    await client.query(
      `DO $$ BEGIN CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
       EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    );
  }
  if (service.password !== undefined) {
    await client.query(`ALTER ROLE ${role} PASSWORD ${pg.escapeLiteral(service.password)}`);
  }
  const { rows: db } = await client.query<{ name: string }>('SELECT current_database() AS name');
  await client.query(`GRANT CONNECT, CREATE ON DATABASE ${ident(db[0]!.name)} TO ${role}`);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await client.query(`ALTER SCHEMA ${schema} OWNER TO ${role}`);
  // Tables, sequences and views an earlier superuser-run migration created.
  const { rows: owned } = await client.query<{ name: string; kind: string }>(
    `SELECT c.relname AS name, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))`,
    [service.schema],
  );
  for (const { name, kind } of owned) {
    const what = kind === 'S' ? 'SEQUENCE' : kind === 'v' ? 'VIEW' : kind === 'm' ? 'MATERIALIZED VIEW' : 'TABLE';
    await client.query(`ALTER ${what} ${schema}.${ident(name)} OWNER TO ${role}`);
  }
}

/** The connection string of `url` with the service's role as its user (and password, if given). */
export function asServiceRole(url: string, service: Pick<ServiceRole, 'role' | 'password'>): string {
  const u = new URL(url);
  u.username = encodeURIComponent(service.role);
  u.password = service.password === undefined ? '' : encodeURIComponent(service.password);
  return u.toString();
}
